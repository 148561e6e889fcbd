/**
 * Forward-only passes: logits and the loss at inference memory (nothing is saved for a backward), on the model's
 * parameters or on any {@linkcode ParamProvider} (MeZO's `θ ± ε·z` computed per tensor on read).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Context } from "./context.ts";
import type { PassOptions } from "./grad_source.ts";
import type { Batch, Model } from "./model.ts";
import { discardAll } from "./policy.ts";
import { Sequence } from "./sequence.ts";

function inferenceContext(model: Model, options: PassOptions): Context {
  return new Context({
    params: options.params ?? model.params,
    selector: discardAll,
    training: false,
    ...(options.key ? { key: options.key } : {}),
  });
}

/**
 * The model's logits for `x`, saving nothing (the caller owns the result).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { inferLogits } from "./forward.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const x = tf.zeros([2, 8], "int32");
 * const logits = inferLogits(gpt, x);
 * assert.deepEqual(logits.shape, [2, 8, 16]);
 * tf.dispose([x, logits, ...Object.values(gpt.params)]);
 * ```
 */
export function inferLogits(model: Model, x: tf.Tensor, options: PassOptions = {}): tf.Tensor {
  return new Sequence("", model.layers.slice()).forward(x, inferenceContext(model, options));
}

/**
 * The batch loss from a forward pass alone, at inference memory: no tensor is saved for a backward, and with a
 * computing provider (`options.params`) at most one computed parameter tensor is alive at a time.
 *
 * @example The loss at perturbed parameters, without touching the model's
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { forwardLoss } from "./forward.ts";
 * import { mapParams, paramsProvider } from "./provider.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const plus = mapParams(paramsProvider(gpt.params), (_n, w) => tf.add(w, 1e-3));
 * const l0 = forwardLoss(gpt, batch), l1 = forwardLoss(gpt, batch, { params: plus });
 * assert.ok(Number.isFinite(l0) && Number.isFinite(l1) && l0 !== l1);
 * tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
 * ```
 */
export function forwardLoss(model: Model, batch: Batch, options: PassOptions = {}): number {
  const ctx = inferenceContext(model, options);
  const logits = new Sequence("", model.layers.slice()).forward(batch.x, ctx);
  try {
    const loss = model.loss.forward(logits, batch.y, ctx.child(model.loss.name), batch.weights);
    const value = loss.dataSync()[0];
    loss.dispose();
    return value;
  } finally {
    logits.dispose();
    ctx.store.dispose();
  }
}
