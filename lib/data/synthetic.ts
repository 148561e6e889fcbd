/**
 * Synthetic next-token tasks with known solutions, for fast tests of models and training loops.
 * @module
 */
import type { Rng } from "./rng.ts";

/** Shape of a synthetic batch. */
export interface SyntheticTaskOptions {
  /** Rows per batch, a positive integer. */
  batch: number;
  /** Tokens per row, an integer >= 2. */
  context: number;
  /** Vocabulary size, an integer >= 2; tokens are in [0, vocab). */
  vocab: number;
}

/** A synthetic batch: `x`, `y` and `mask` are each `[batch * context]`, row-major. */
export interface SyntheticBatch {
  /** Input tokens. */
  x: Int32Array;
  /** Target tokens (the next token of each position). */
  y: Int32Array;
  /** Loss weight per position (1 = scored, 0 = ignored); absent means every position counts. */
  mask?: Float32Array;
}

function check(fn: string, options: SyntheticTaskOptions): void {
  const { batch, context, vocab } = options;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`Cannot make ${fn} batch: 'batch' must be a positive integer: current value is ${batch}`);
  }
  if (!Number.isInteger(context) || context < 2) {
    throw new RangeError(`Cannot make ${fn} batch: 'context' must be an integer >= 2: current value is ${context}`);
  }
  if (!Number.isInteger(vocab) || vocab < 2 || vocab > 0x7fffffff) {
    throw new RangeError(`Cannot make ${fn} batch: 'vocab' must be an integer >= 2: current value is ${vocab}`);
  }
}

/**
 * The copy task: each row is `h = ceil(context / 2)` random tokens followed by the same tokens again, so the second
 * half of every row is predictable from the first. `mask` is 1 exactly on the second half (positions `t >= h`), the
 * positions whose targets are copies; a model solving the task drives the masked loss to 0.
 *
 * @example Usage
 * ```ts
 * import { copyTask } from "./synthetic.ts";
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const { x, y, mask } = copyTask(new Rng(0), { batch: 1, context: 6, vocab: 10 });
 * assert.deepEqual(x.subarray(3), x.subarray(0, 3));
 * assert.deepEqual(y.subarray(0, 5), x.subarray(1));
 * assert.deepEqual(mask, Float32Array.of(0, 0, 0, 1, 1, 1));
 * ```
 * @param rng Generator for the random first halves.
 * @param options Batch, context and vocabulary sizes.
 * @returns `x`, `y` (x shifted by one along the repeating sequence) and the loss mask.
 * @throws {RangeError} if an option is invalid.
 */
export function copyTask(rng: Rng, options: SyntheticTaskOptions): SyntheticBatch {
  check("copy-task", options);
  const { batch, context, vocab } = options;
  const h = Math.ceil(context / 2);
  const x = new Int32Array(batch * context);
  const y = new Int32Array(batch * context);
  const mask = new Float32Array(batch * context);
  const half = new Int32Array(h);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < h; i++) half[i] = rng.int(vocab);
    const row = b * context;
    for (let t = 0; t < context; t++) {
      x[row + t] = half[t % h];
      y[row + t] = half[(t + 1) % h];
      mask[row + t] = t >= h ? 1 : 0;
    }
  }
  return { x, y, mask };
}

/**
 * The counting task: each row counts up from a random start modulo `vocab` (`y[t] = (x[t] + 1) % vocab`). Every
 * position is predictable, so there is no mask.
 *
 * @example Usage
 * ```ts
 * import { countTask } from "./synthetic.ts";
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const { x, y } = countTask(new Rng(0), { batch: 2, context: 5, vocab: 4 });
 * for (let i = 0; i < x.length; i++) assert.equal(y[i], (x[i] + 1) % 4);
 * ```
 * @param rng Generator for the start of each row.
 * @param options Batch, context and vocabulary sizes.
 * @returns `x` and `y`.
 * @throws {RangeError} if an option is invalid.
 */
export function countTask(rng: Rng, options: SyntheticTaskOptions): SyntheticBatch {
  check("count-task", options);
  const { batch, context, vocab } = options;
  const x = new Int32Array(batch * context);
  const y = new Int32Array(batch * context);
  for (let b = 0; b < batch; b++) {
    const start = rng.int(vocab);
    for (let t = 0; t < context; t++) {
      x[b * context + t] = (start + t) % vocab;
      y[b * context + t] = (start + t + 1) % vocab;
    }
  }
  return { x, y };
}
