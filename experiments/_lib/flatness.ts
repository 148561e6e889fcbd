/**
 * Flatness of a per-step series (tensor counts, live bytes) after a warm-up: a long run that leaks shows up as a
 * series that keeps growing.
 * @module
 */

/** How far a series strays from its value at the end of the warm-up. */
export interface Flatness {
  /** The first value after the warm-up (`values[warmup]`: after step `warmup + 1`), the reference. */
  reference: number;
  /** The value after the last step. */
  last: number;
  /** The smallest value after the warm-up. */
  min: number;
  /** The largest value after the warm-up. */
  max: number;
  /** The largest `|value - reference| / reference` after the warm-up, in percent (0 when nothing follows it). */
  driftPct: number;
}

/**
 * Measures the series `values` (`values[i]` is the value after step `i + 1`) after its first `warmup` values against
 * `values[warmup]`.
 *
 * @example Usage
 * ```ts
 * import { flatness } from "./flatness.ts";
 * import assert from "node:assert/strict";
 *
 * const f = flatness([5, 9, 10, 10, 10.05], 2); // warm-up [5, 9], then [10, 10, 10.05]
 * assert.equal(f.reference, 10);
 * assert.ok(Math.abs(f.driftPct - 0.5) < 1e-9);
 * ```
 * @throws {RangeError} when `warmup` is not an integer in [0, values.length - 1], or the reference is not positive.
 */
export function flatness(values: readonly number[], warmup: number): Flatness {
  if (!Number.isInteger(warmup) || warmup < 0 || warmup >= values.length) {
    throw new RangeError(
      `Cannot measure flatness: 'warmup' must be an integer in [0, ${values.length - 1}]: current value is ${warmup}`,
    );
  }
  const reference = values[warmup];
  if (!(reference > 0)) {
    throw new RangeError(
      `Cannot measure flatness: the reference value must be positive: current value is ${reference}`,
    );
  }
  const after = values.slice(warmup);
  const min = Math.min(...after), max = Math.max(...after);
  const driftPct = Math.max(Math.abs(max - reference), Math.abs(min - reference)) / reference * 100;
  return { reference, last: values[values.length - 1], min, max, driftPct };
}
