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
 * The chunks of a sequence of `t` rows, in order: `[0, size), [size, 2·size), …`, the last ending at `t`. With
 * `maxScores`, a chunk `[s, e)` also keeps its causal attention scores (`(e − s)` query rows × `e` keys, per sequence
 * and head) within `maxScores`: chunks late in a long sequence get fewer rows (at least one), so the largest attention
 * tensor of a chunk no longer grows with the sequence, while short sequences keep chunks of `size` rows.
 *
 * @example Usage
 * ```ts
 * import { chunkRanges } from "./chunks.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(chunkRanges(7, 3).map((c) => [c.start, c.end]), [[0, 3], [3, 6], [6, 7]]);
 * assert.equal(chunkRanges(4, 10).length, 1); // a chunk longer than the sequence is the whole sequence
 * // At most 64 scores per chunk: 8 rows x 8 keys, then 4 x 12, 4 x 16, 3 x 19, 2 x 21, 2 x 23, 1 x 24
 * assert.deepEqual(chunkRanges(24, 8, 64).map((c) => c.end - c.start), [8, 4, 4, 3, 2, 2, 1]);
 * ```
 * @throws {RangeError} when `t` or `size` is not a positive integer, or `maxScores` is not a non-negative integer.
 */
export function chunkRanges(t: number, size: number, maxScores = 0): ChunkRange[] {
  if (!Number.isInteger(t) || t < 1) {
    throw new RangeError(
      `Cannot cut a sequence into chunks: its length must be a positive integer: current value is ${t}`,
    );
  }
  checkChunkSize("chunks", "size", size);
  if (!Number.isInteger(maxScores) || maxScores < 0) {
    throw new RangeError(
      `Cannot cut a sequence into chunks: 'maxScores' must be a non-negative integer: current value is ${maxScores}`,
    );
  }
  const out: ChunkRange[] = [];
  for (let s = 0; s < t;) {
    let c = Math.min(size, t - s);
    // The most rows c with c·(s + c) <= maxScores.
    if (maxScores > 0) c = Math.min(c, Math.max(1, Math.floor((-s + Math.sqrt(s * s + 4 * maxScores)) / 2)));
    out.push({ start: s, end: s + c });
    s += c;
  }
  return out;
}
