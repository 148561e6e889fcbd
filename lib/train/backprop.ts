/**
 * Plain explicit backprop, the default gradient source (seam B): forward through the model's trunk saving through
 * a selector, the loss, then backward in reverse. The selector (Mesa, WTA-CRS) and the trunk transform (checkpoint
 * plans) are its two memory knobs; StreamBP and MeZO are other sources (their types are in `lib/nn/grad_source.ts`).
 * @module
 */
import { drainDeferred } from "../backend/mod.ts";
import { meter } from "../memory/meter.ts";
import { Context, SavedStore } from "../nn/context.ts";
import type { GradSource, LossAndGrads, PassOptions } from "../nn/grad_source.ts";
import type { TrunkTransform } from "../nn/layer.ts";
import type { Batch, Model } from "../nn/model.ts";
import { keepAll, type PolicySelector } from "../nn/policy.ts";
import { Sequence } from "../nn/sequence.ts";

/** Options for {@linkcode backprop}. */
export interface BackpropOptions {
  /** Policy per saved tensor. @default {keepAll} */
  selector?: PolicySelector;
  /** Trunk rewrite (checkpointing). @default {identity} */
  trunk?: TrunkTransform;
}

/**
 * Plain explicit backprop: forward through the trunk saving through `selector`, loss, then backward in reverse.
 *
 * @example Gradients of a tiny GPT, with checkpointing
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { backprop } from "./backprop.ts";
 * import { checkpoint } from "../checkpoint/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const { loss, grads } = backprop({ trunk: checkpoint("every") }).lossAndGrads(gpt, batch, { key: { step: 0, seed: 0 } });
 * assert.ok(Number.isFinite(loss));
 * assert.deepEqual(Object.keys(grads).sort(), Object.keys(gpt.params).sort());
 * tf.dispose([batch.x, batch.y, ...Object.values(grads), ...Object.values(gpt.params)]);
 * ```
 */
export function backprop(options: BackpropOptions = {}): GradSource {
  const selector = options.selector ?? keepAll;
  const cache = new WeakMap<Model, Sequence>();
  const trunkOf = (model: Model): Sequence => {
    let seq = cache.get(model);
    if (!seq) {
      seq = new Sequence("", options.trunk ? options.trunk(model.layers) : model.layers.slice());
      cache.set(model, seq);
    }
    return seq;
  };
  return {
    name: "backprop",
    lossAndGrads(model: Model, batch: Batch, pass: PassOptions = {}): LossAndGrads {
      const trunk = trunkOf(model);
      const store = new SavedStore();
      const ctx = new Context({
        params: pass.params ?? model.params,
        store,
        selector,
        ...(pass.key ? { key: pass.key } : {}),
        ...(batch.rows ? { rows: batch.rows } : {}),
      });
      const m = meter();
      const before = m.live;
      try {
        const logits = trunk.forward(batch.x, ctx);
        const lossT = model.loss.forward(logits, batch.y, ctx.child(model.loss.name), batch.weights);
        const logitsShape = logits.shape;
        logits.dispose();
        const loss = lossT.dataSync()[0];
        lossT.dispose();
        const forwardBytes = m.live - before;
        const savedBytes = store.bytes();
        const dlogits = model.loss.backward(ctx.child(model.loss.name), logitsShape);
        const dx = trunk.backward(dlogits, ctx);
        dlogits.dispose();
        dx?.dispose();
        // Gradient matmuls deferred to a BLAS worker finish here, so the buffers they read are freed before the
        // optimizer allocates its update (otherwise they would add to the step's peak).
        drainDeferred();
        if (store.size !== 0) {
          throw new Error(
            `backprop: ${store.size} saved tensors were never used by backward (${store.report()[0].tag}, ...)`,
          );
        }
        return { loss, grads: ctx.grads, savedBytes, forwardBytes };
      } catch (e) {
        store.dispose();
        for (const g of Object.values(ctx.grads)) g.dispose();
        throw e;
      }
    },
  };
}
