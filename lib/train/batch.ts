/**
 * Turning plain arrays from the data loaders into tensor batches.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../nn/model.ts";

/** Plain token data: `x`, `y` (and an optional `mask`) of `batch·context` entries each. */
export interface TokenArrays {
  /** Inputs. */
  x: Int32Array;
  /** Targets. */
  y: Int32Array;
  /** Optional per-target loss weights. */
  mask?: Float32Array;
}

/**
 * A `[batch, context]` token batch from flat arrays (the caller disposes it with {@linkcode disposeBatch}).
 *
 * @throws {RangeError} when `batch` or `context` is not a positive integer, or the arrays do not hold
 * `batch·context` entries.
 */
export function tokenBatch(data: TokenArrays, batch: number, context: number): Batch {
  for (const [k, v] of [["batch", batch], ["context", context]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot make a token batch: '${k}' must be a positive integer: current value is ${v}`);
    }
  }
  const n = batch * context;
  for (const [k, a] of Object.entries(data)) {
    if (a && a.length !== n) {
      throw new RangeError(
        `Cannot make a token batch: '${k}' must have ${batch}x${context}=${n} entries: current length is ${a.length}`,
      );
    }
  }
  return {
    x: tf.tensor2d(data.x, [batch, context], "int32"),
    y: tf.tensor2d(data.y, [batch, context], "int32"),
    ...(data.mask ? { weights: tf.tensor2d(data.mask, [batch, context]) } : {}),
  };
}

/** Disposes a batch's tensors. */
export function disposeBatch(batch: Batch): void {
  batch.x.dispose();
  batch.y.dispose();
  batch.weights?.dispose();
}
