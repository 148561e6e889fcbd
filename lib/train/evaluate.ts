/**
 * Evaluation: mean loss and accuracy over batches, forward only (nothing saved).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Model } from "../nn/model.ts";
import { inferLogits } from "../nn/forward.ts";

/** Mean loss and accuracy over evaluated targets. */
export interface EvalResult {
  /** Mean cross-entropy per target. */
  loss: number;
  /** Fraction of targets whose argmax prediction is right. */
  accuracy: number;
  /** Number of targets evaluated (weights > 0). */
  count: number;
}

/**
 * Evaluates `model` on `batches` (not disposed: the caller owns them).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { evaluate } from "./evaluate.ts";
 * import { createVit, VIT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const vit = createVit(VIT_PRESETS.tiny, { seed: 0 });
 * const batch = { x: tf.randomUniform([4, 28, 28, 1]), y: tf.tensor1d([0, 1, 2, 3], "int32") };
 * const { loss, accuracy, count } = evaluate(vit, [batch]);
 * assert.ok(Number.isFinite(loss) && accuracy >= 0 && count === 4);
 * ```
 */
export function evaluate(model: Model, batches: Iterable<Batch>): EvalResult {
  let lossSum = 0, correct = 0, count = 0;
  for (const batch of batches) {
    const [l, c, n] = tf.tidy(() => {
      const logits = inferLogits(model, batch.x);
      const k = logits.shape[logits.rank - 1];
      const z = logits.reshape([-1, k]); // [N, K]
      const y = batch.y.reshape([-1]); // [N]
      const w = batch.weights ? batch.weights.reshape([-1]) : tf.onesLike(y).toFloat();
      const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(y as tf.Tensor1D, k)), 1));
      const hit = tf.equal(tf.argMax(z, 1), y).toFloat();
      return [tf.sum(tf.mul(nll, w)), tf.sum(tf.mul(hit, w)), tf.sum(w)].map((t) => t.dataSync()[0]);
    });
    lossSum += l;
    correct += c;
    count += n;
  }
  if (count === 0) throw new RangeError("Cannot evaluate: no targets in the given batches");
  return { loss: lossSum / count, accuracy: correct / count, count };
}
