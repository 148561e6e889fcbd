/**
 * The longest sequence length whose measured memory fits a budget: a bracketing search on T in which every
 * candidate is measured (never extrapolated into the answer). Candidates come from the measured points (secant on
 * peak(T), safeguarded by bisection), so few expensive long runs are needed; memory grows with T.
 * @module
 */

/** One measured candidate. */
export interface LengthPoint {
  /** Sequence length. */
  t: number;
  /** Measured peak bytes at `t`. */
  peak: number;
}

/** Options for {@linkcode searchMaxLength}. */
export interface MaxLengthOptions {
  /** The memory budget in bytes. */
  budget: number;
  /** First length tried. */
  start: number;
  /** Lengths are multiples of this. @default {8} */
  quantum?: number;
  /** Stop when the bracket is at most `max(quantum, resolution·lo)` wide. @default {0.02} */
  resolution?: number;
  /** Largest length tried (the answer is at most this). @default {65536} */
  limit?: number;
}

/** What {@linkcode searchMaxLength} returns. */
export interface MaxLengthResult {
  /** The longest measured length that fits (0 when even the smallest tried does not). */
  maxT: number;
  /** Its measured peak bytes (0 when none fits). */
  peakAtMax: number;
  /** The shortest measured length that does not fit (Infinity when `limit` fits). */
  firstMiss: number;
  /** Every measured candidate, in the order measured. */
  points: LengthPoint[];
}

function roundTo(t: number, q: number): number {
  return Math.max(q, Math.round(t / q) * q);
}

/**
 * Searches the longest `t` with `measure(t) <= budget`: grows from `start` (guided by the slope of the last two
 * points, at most doubling) until a candidate misses, then narrows the bracket by secant steps kept inside its
 * middle 80% (alternating with plain bisection) until it is at most `max(quantum, resolution·lo)` wide.
 *
 * @example Usage
 * ```ts
 * import { searchMaxLength } from "./max_length.ts";
 * import assert from "node:assert/strict";
 *
 * const r = searchMaxLength((t) => 1000 + 3 * t, { budget: 10_000, start: 64, quantum: 1, resolution: 0 });
 * assert.equal(r.maxT, 3000);
 * assert.equal(r.firstMiss, 3001);
 * ```
 * @throws {RangeError} when `start`, `quantum` or `limit` is not a positive integer or `budget` is not positive.
 */
export function searchMaxLength(measure: (t: number) => number, options: MaxLengthOptions): MaxLengthResult {
  const { budget, start, quantum = 8, resolution = 0.02, limit = 65536 } = options;
  for (const [k, v] of Object.entries({ start, quantum, limit })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot search the max length: '${k}' must be a positive integer: current value is ${v}`);
    }
  }
  if (!(budget > 0)) {
    throw new RangeError(`Cannot search the max length: 'budget' must be > 0: current value is ${budget}`);
  }
  const points: LengthPoint[] = [];
  const tried = new Map<number, number>();
  const probe = (t: number): number => {
    const have = tried.get(t);
    if (have !== undefined) return have;
    const peak = measure(t);
    tried.set(t, peak);
    points.push({ t, peak });
    return peak;
  };
  let lo: LengthPoint | null = null, hi: LengthPoint | null = null;
  let t = Math.min(roundTo(start, quantum), limit);
  // Grow until a miss (or the limit fits).
  for (;;) {
    const peak = probe(t);
    if (peak > budget) {
      hi = { t, peak };
      break;
    }
    lo = { t, peak };
    if (t >= limit) break;
    const prev = points.length >= 2 ? points[points.length - 2] : null;
    let next = 2 * t;
    if (prev && prev.t < t && peak > prev.peak) {
      const slope = (peak - prev.peak) / (t - prev.t);
      next = Math.min(next, Math.max(1.25 * t, t + 1.05 * (budget - peak) / slope));
    }
    t = Math.min(limit, roundTo(next, quantum));
    if (t <= lo.t) t = Math.min(limit, lo.t + quantum);
  }
  if (!lo && hi) {
    // Even `start` misses: shrink towards quantum.
    let c = hi.t;
    while (c > quantum) {
      c = roundTo(Math.floor(c / 2), quantum);
      const peak = probe(c);
      if (peak <= budget) {
        lo = { t: c, peak };
        break;
      }
      hi = { t: c, peak };
      if (c === quantum) break;
    }
  }
  // Narrow the bracket [lo, hi).
  let bisect = false;
  while (lo && hi && hi.t - lo.t > Math.max(quantum, resolution * lo.t)) {
    const span = hi.t - lo.t;
    let next = lo.t + span / 2;
    if (!bisect && hi.peak > lo.peak) {
      const secant = lo.t + (budget - lo.peak) * span / (hi.peak - lo.peak);
      next = Math.min(hi.t - 0.1 * span, Math.max(lo.t + 0.1 * span, secant));
    }
    bisect = !bisect;
    let c = roundTo(next, quantum);
    if (c <= lo.t) c = lo.t + quantum;
    if (c >= hi.t) c = hi.t - quantum;
    if (c <= lo.t) break;
    const peak = probe(c);
    if (peak > budget) hi = { t: c, peak };
    else lo = { t: c, peak };
  }
  return { maxT: lo?.t ?? 0, peakAtMax: lo?.peak ?? 0, firstMiss: hi?.t ?? Infinity, points };
}
