/**
 * How StreamBP cuts a sequence into chunks: consecutive row ranges `[s, e)` of at most `size` rows covering
 * `0..t-1` (the last one shorter when `size` does not divide `t`).
 * @module
 */

/** One chunk of the sequence: rows `start..end-1`. */
export interface ChunkRange {
  /** First row. */
  readonly start: number;
  /** One past the last row. */
  readonly end: number;
}

/**
 * Throws a RangeError unless `value` is a positive integer, naming the option `what` of `where`.
 *
 * @example Usage
 * ```ts
 * import { checkChunkSize } from "./chunks.ts";
 * import assert from "node:assert/strict";
 *
 * checkChunkSize("StreamBP", "chunk", 64); // ok
 * assert.throws(() => checkChunkSize("StreamBP", "chunk", 0), RangeError);
 * ```
 */
export function checkChunkSize(where: string, what: string, value: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot create ${where}: '${what}' must be a positive integer: current value is ${value}`);
  }
}

/**
 * The chunks of a sequence of `t` rows, in order: `[0, size), [size, 2·size), …`, the last ending at `t`.
 *
 * @example Usage
 * ```ts
 * import { chunkRanges } from "./chunks.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(chunkRanges(7, 3).map((c) => [c.start, c.end]), [[0, 3], [3, 6], [6, 7]]);
 * assert.equal(chunkRanges(4, 10).length, 1); // a chunk longer than the sequence is the whole sequence
 * ```
 * @throws {RangeError} when `t` is not a positive integer or `size` is not a positive integer.
 */
export function chunkRanges(t: number, size: number): ChunkRange[] {
  if (!Number.isInteger(t) || t < 1) {
    throw new RangeError(
      `Cannot cut a sequence into chunks: its length must be a positive integer: current value is ${t}`,
    );
  }
  checkChunkSize("chunks", "size", size);
  const out: ChunkRange[] = [];
  for (let s = 0; s < t; s += size) out.push({ start: s, end: Math.min(t, s + size) });
  return out;
}
