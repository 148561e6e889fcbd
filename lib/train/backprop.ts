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
import { paramsProvider } from "../nn/provider.ts";
import { Sequence } from "../nn/sequence.ts";
import { type GradientHooks, GradientTracker, TrackedLayer } from "./grad_final.ts";

/** Options for {@linkcode backprop}. */
export interface BackpropOptions {
  /** Policy per saved tensor. @default {keepAll} */
  selector?: PolicySelector;
  /** Trunk rewrite (checkpointing). @default {identity} */
  trunk?: TrunkTransform;
}

const OPTIONS = new WeakMap<GradSource, BackpropOptions>();
const PASSES = new WeakMap<GradSource, HookedPass>();

/**
 * The options a {@linkcode backprop} source was made with, or undefined for any other source (update in backward
 * runs the source's own pass, {@linkcode backpropPassOf}).
 *
 * @example Usage
 * ```ts
 * import { backprop, backpropOptionsOf } from "./backprop.ts";
 * import assert from "node:assert/strict";
 *
 * const options = {};
 * assert.equal(backpropOptionsOf(backprop(options)), options);
 * assert.equal(backpropOptionsOf({ name: "other", lossAndGrads: () => ({ loss: 0, grads: {}, savedBytes: 0, forwardBytes: 0 }) }), undefined);
 * ```
 */
export function backpropOptionsOf(source: GradSource): BackpropOptions | undefined {
  return OPTIONS.get(source);
}

/**
 * Plain explicit backprop: forward through the trunk saving through `selector`, loss, then backward in reverse.
 * Gradients are returned for the trainable parameters only (`model.trainable`; frozen ones get none).
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
  const pass = explicitPass(options);
  const source: GradSource = {
    name: "backprop",
    lossAndGrads: (model: Model, batch: Batch, p: PassOptions = {}): LossAndGrads => pass(model, batch, p),
  };
  OPTIONS.set(source, options);
  PASSES.set(source, pass);
  return source;
}

/**
 * The pass of a {@linkcode backprop} source with {@linkcode GradientHooks} (what update in backward runs), or undefined
 * for any other source. With hooks every trained gradient goes to `hooks.final` as soon as it is final, so the pass
 * returns no gradients.
 *
 * @example Usage
 * ```ts
 * import { backprop, backpropPassOf } from "./backprop.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(typeof backpropPassOf(backprop()), "function");
 * assert.equal(backpropPassOf({ name: "other", lossAndGrads: () => ({ loss: 0, grads: {}, savedBytes: 0, forwardBytes: 0 }) }), undefined);
 * ```
 */
export function backpropPassOf(source: GradSource): HookedPass | undefined {
  return PASSES.get(source);
}

/** A backprop pass that may run with gradient hooks. */
export type HookedPass = (model: Model, batch: Batch, pass?: PassOptions, hooks?: GradientHooks) => LossAndGrads;

/**
 * The one forward/loss/backward pass of backprop and update in backward: forward through the (cached) trunk saving
 * through `selector`, the loss, then backward in reverse. Without hooks it returns the trained gradients; with hooks a
 * {@linkcode GradientTracker} hands each gradient to `hooks.final` as soon as it is final.
 */
function explicitPass(options: BackpropOptions): HookedPass {
  const selector = options.selector ?? keepAll;
  const plain = new WeakMap<Model, Sequence>(), tracked = new WeakMap<Model, Sequence>();
  const running: { tracker?: GradientTracker } = {};
  const trunkOf = (model: Model, track: boolean): Sequence => {
    const cache = track ? tracked : plain;
    let seq = cache.get(model);
    if (!seq) {
      const layers = track ? model.layers.map((l, i) => new TrackedLayer(l, i, running)) : model.layers.slice();
      seq = new Sequence("", options.trunk ? options.trunk(layers) : layers);
      cache.set(model, seq);
    }
    return seq;
  };
  return (model, batch, pass = {}, hooks) => {
    if (hooks && running.tracker) throw new Error("Cannot run a tracked pass: one of this source is already running");
    const trunk = trunkOf(model, hooks !== undefined);
    const params = pass.params ?? paramsProvider(model.params);
    const tracker = hooks
      ? new GradientTracker(hooks, params, model.trainable ?? (() => true), model.layers.length)
      : undefined;
    const store = new SavedStore();
    const ctx = new Context({
      params: tracker ? tracker.provider : params,
      store,
      selector,
      ...(tracker ? { grads: tracker.grads } : {}),
      ...(pass.key ? { key: pass.key } : {}),
      ...(model.trainable ? { trainable: model.trainable } : {}),
      ...(batch.rows ? { rows: batch.rows } : {}),
    });
    const m = meter();
    const before = m.live;
    running.tracker = tracker;
    try {
      const logits = trunk.forward(batch.x, ctx);
      if (tracker) tracker.current = model.layers.length;
      const lossT = model.loss.forward(logits, batch.y, ctx.child(model.loss.name), batch.weights);
      const logitsShape = logits.shape;
      logits.dispose();
      const loss = lossT.dataSync()[0];
      lossT.dispose();
      const forwardBytes = m.live - before;
      const savedBytes = store.bytes();
      tracker?.startBackward(params.names(), loss);
      const dlogits = model.loss.backward(ctx.child(model.loss.name), logitsShape);
      tracker?.layerDone(model.layers.length);
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
      tracker?.finish();
      return { loss, grads: tracker ? {} : ctx.grads, savedBytes, forwardBytes };
    } catch (e) {
      store.dispose();
      for (const g of tracker ? tracker.pending() : Object.values(ctx.grads)) g.dispose();
      throw e;
    } finally {
      running.tracker = undefined;
    }
  };
}
