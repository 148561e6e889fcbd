/**
 * Seam B: where gradients come from. {@linkcode backprop} is plain explicit backprop over a model's trunk; the
 * selector (Mesa, WTA-CRS) and the trunk transform (checkpoint plans) are its two memory knobs. StreamBP and MeZO
 * provide other {@linkcode GradSource}s.
 * @module
 */
import { drainDeferred } from "../backend/mod.ts";
import * as tf from "@tensorflow/tfjs";
import { meter } from "../memory/meter.ts";
import { Context, SavedStore } from "../nn/context.ts";
import type { Layer } from "../nn/layer.ts";
import type { Grads } from "../nn/params.ts";
import { discardAll, keepAll, type PolicySelector } from "../nn/policy.ts";
import { Sequence } from "../nn/sequence.ts";
import type { Batch, Model } from "../models/model.ts";

/** What a gradient source returns for one batch. The caller owns (and disposes) `grads`. */
export interface LossAndGrads {
  /** The batch loss. */
  loss: number;
  /** Gradients by parameter path. */
  grads: Grads;
  /** Bytes held for backward at the end of forward, as the policies count them. */
  savedBytes: number;
  /** Live bytes (unique buffers + ledger) added by the forward pass, as the meter measured them. */
  forwardBytes: number;
}

/** Produces loss and gradients for a batch. */
export interface GradSource {
  /** Readable name. */
  readonly name: string;
  /** Runs whatever passes it needs and returns loss and gradients. */
  lossAndGrads(model: Model, batch: Batch): LossAndGrads;
}

/**
 * Rewrites a model's trunk before it runs, e.g. grouping blocks into checkpointed segments. It must return layers with
 * the same parameters (paths unchanged).
 */
export type TrunkTransform = (layers: readonly Layer[]) => Layer[];

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
 * @example Usage
 * ```ts ignore
 * const { loss, grads } = backprop().lossAndGrads(model, batch);
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
    lossAndGrads(model: Model, batch: Batch): LossAndGrads {
      const trunk = trunkOf(model);
      const store = new SavedStore();
      const ctx = new Context({ params: model.params, store, selector });
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

/** Forward only, saving nothing: logits for a batch (caller disposes). */
export function inferLogits(model: Model, x: tf.Tensor): tf.Tensor {
  const ctx = new Context({ params: model.params, selector: discardAll, training: false });
  return new Sequence("", model.layers.slice()).forward(x, ctx);
}
