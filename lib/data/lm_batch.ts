/**
 * Next-token batches over a token stream: random windows for training, fixed contiguous windows for evaluation.
 * @module
 */
import type { Rng } from "./rng.ts";

/** A batch of next-token pairs, each `[rows * context]` row-major; `y[i]` is the token after `x[i]`. */
export interface LmBatch {
  /** Input tokens. */
  x: Int32Array;
  /** Target tokens: `x` shifted left by one within the stream. */
  y: Int32Array;
}

function checkPositiveInt(fn: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`Cannot ${fn}: '${what}' must be a positive integer: current value is ${v}`);
  }
}

function checkContext(fn: string, tokens: Int32Array, context: number): void {
  checkPositiveInt(fn, "context", context);
  if (context >= tokens.length) {
    throw new RangeError(
      `Cannot ${fn}: 'context' must be less than the number of tokens (${tokens.length}): current value is ${context}`,
    );
  }
}

/**
 * Samples `batch` windows of `context + 1` tokens at uniformly random offsets (nanoGPT's `get_batch`).
 *
 * @example Usage
 * ```ts
 * import { sampleLmBatch } from "./lm_batch.ts";
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const tokens = Int32Array.from({ length: 100 }, (_, i) => i);
 * const { x, y } = sampleLmBatch(tokens, 4, 8, new Rng(0));
 * assert.equal(x.length, 32);
 * assert.equal(y[0], x[0] + 1);
 * ```
 * @param tokens The token stream.
 * @param batch Number of windows, a positive integer.
 * @param context Tokens per window, a positive integer below `tokens.length`.
 * @param rng The generator choosing offsets (advanced by `batch` draws).
 * @returns `x` and `y`, each `[batch * context]`.
 * @throws {RangeError} if `batch` or `context` is invalid.
 */
export function sampleLmBatch(tokens: Int32Array, batch: number, context: number, rng: Rng): LmBatch {
  checkPositiveInt("sample LM batch", "batch", batch);
  checkContext("sample LM batch", tokens, context);
  const x = new Int32Array(batch * context);
  const y = new Int32Array(batch * context);
  const starts = tokens.length - context; // offsets 0..len-context-1 leave room for the last target
  for (let b = 0; b < batch; b++) {
    const s = rng.int(starts);
    x.set(tokens.subarray(s, s + context), b * context);
    y.set(tokens.subarray(s + 1, s + context + 1), b * context);
  }
  return { x, y };
}

/**
 * Cuts `tokens` into contiguous, non-overlapping windows (window `w` starts at `w * context`) and groups them into
 * batches of `batch` rows, for a deterministic validation loss. The last batch may have fewer rows
 * (`x.length / context`); the tail shorter than one window is dropped.
 *
 * @example Usage
 * ```ts
 * import { lmEvalBatches } from "./lm_batch.ts";
 * import assert from "node:assert/strict";
 *
 * const tokens = Int32Array.from({ length: 21 }, (_, i) => i);
 * const batches = lmEvalBatches(tokens, 3, 4); // 5 windows: 3 + 2 rows
 * assert.equal(batches.length, 2);
 * assert.deepEqual(batches[1].x, Int32Array.of(12, 13, 14, 15, 16, 17, 18, 19));
 * ```
 * @param tokens The token stream.
 * @param batch Maximum rows per batch, a positive integer.
 * @param context Tokens per window, a positive integer below `tokens.length`.
 * @param maxBatches Stop after this many batches. @default {Infinity}
 * @returns The batches, in stream order.
 * @throws {RangeError} if an argument is invalid.
 */
export function lmEvalBatches(tokens: Int32Array, batch: number, context: number, maxBatches = Infinity): LmBatch[] {
  checkPositiveInt("make LM eval batches", "batch", batch);
  checkContext("make LM eval batches", tokens, context);
  if (maxBatches !== Infinity) checkPositiveInt("make LM eval batches", "maxBatches", maxBatches);
  const windows = Math.min(Math.floor((tokens.length - 1) / context), maxBatches * batch);
  const out: LmBatch[] = [];
  for (let w0 = 0; w0 < windows; w0 += batch) {
    const rows = Math.min(batch, windows - w0);
    const start = w0 * context;
    out.push({
      x: tokens.slice(start, start + rows * context),
      y: tokens.slice(start + 1, start + rows * context + 1),
    });
  }
  return out;
}
