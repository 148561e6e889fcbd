/**
 * Shared checks for the StreamBP tests: gradient errors against a reference, and batches with a prompt mask and
 * right padding.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { Batch } from "../../lib/nn/model.ts";
import type { Grads } from "../../lib/nn/params.ts";

/** Norm-relative and max-element errors of `a` against `b`, in float64. */
export interface GradError {
  /** `‖a − b‖₂ / ‖b‖₂`. */
  normRel: number;
  /** `max|a − b| / max|b|`. */
  maxRel: number;
  /** Mean `|a − b|`. */
  meanAbs: number;
}

/** The errors of one tensor against a reference. */
export function gradError(a: tf.Tensor, b: tf.Tensor): GradError {
  assert.deepEqual(a.shape, b.shape, "shape");
  const x = a.dataSync(), y = b.dataSync();
  let num = 0, den = 0, maxD = 0, maxB = 0, sumAbs = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - y[i];
    num += d * d;
    den += y[i] * y[i];
    maxD = Math.max(maxD, Math.abs(d));
    maxB = Math.max(maxB, Math.abs(y[i]));
    sumAbs += Math.abs(d);
  }
  if (Number.isNaN(num)) return { normRel: Infinity, maxRel: Infinity, meanAbs: Infinity };
  return {
    normRel: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30),
    maxRel: maxD / Math.max(maxB, 1e-30),
    meanAbs: sumAbs / x.length,
  };
}

/**
 * Asserts the bounds for every parameter: norm-relative error <= 1e-5 and max element error <= 1e-4 of the
 * parameter's max gradient (float32), and that both maps have the same keys.
 */
export function assertGradsMatch(got: Grads, want: Grads, what: string, normTol = 1e-5, maxTol = 1e-4): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: gradient keys`);
  for (const [name, g] of Object.entries(want)) {
    const e = gradError(got[name], g);
    assert.ok(e.normRel <= normTol, `${what}: ${name}: norm-relative error ${e.normRel.toExponential(2)} > ${normTol}`);
    assert.ok(e.maxRel <= maxTol, `${what}: ${name}: max element error ${e.maxRel.toExponential(2)} > ${maxTol}`);
  }
}

/**
 * A `[b, t]` batch over `vocab` with deterministic ids; with `masked`, each row gets a prompt of `prompt[r]` tokens
 * and right padding of `pad[r]` tokens, both weighted 0 (the padding's ids are 0).
 */
export function maskedBatch(
  b: number,
  t: number,
  vocab: number,
  seed: number,
  masked?: { prompt: number[]; pad: number[] },
): Batch {
  const x = tf.randomUniform([b, t], 1, vocab, "int32", seed);
  const y = tf.randomUniform([b, t], 1, vocab, "int32", seed + 1);
  if (!masked) return { x, y };
  const w = new Float32Array(b * t), xv = x.dataSync().slice(), yv = y.dataSync().slice();
  for (let r = 0; r < b; r++) {
    for (let j = 0; j < t; j++) {
      const padded = j >= t - masked.pad[r];
      w[r * t + j] = j < masked.prompt[r] || padded ? 0 : 1;
      if (padded) xv[r * t + j] = yv[r * t + j] = 0;
    }
  }
  tf.dispose([x, y]);
  return { x: tf.tensor2d(xv, [b, t], "int32"), y: tf.tensor2d(yv, [b, t], "int32"), weights: tf.tensor2d(w, [b, t]) };
}

/** Disposes a batch. */
export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.x, batch.y, ...(batch.weights ? [batch.weights] : [])]);
}
