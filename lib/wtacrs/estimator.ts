/**
 * Which rows of a Linear layer's input the backward keeps, and with what weight: estimators of the weight gradient
 * `∇W = Σ_i x_iᵀ·dy_i` (one outer product, a "column-row pair", per row i) from a budget of k rows, given a sampling
 * weight `w_i ≥ 0` per row (WTA-CRS uses `‖x_i‖·‖dy_i‖`). Plain arithmetic on typed arrays; the policy gathers the rows.
 *
 * With `p_i = w_i / Σw`:
 * - `"crs"` (Drineas et al.): k draws with replacement from p; row j weighs `1 / (k·p_j)` per draw. Unbiased.
 * - `"wta-crs"` (Liu et al. 2023): the |C| most probable rows (the winners, |C| from the adaptive rule of
 *   {@linkcode adaptiveWinnerCount}) weigh 1; `s = k − |C|` draws with replacement from the other rows, `q_j =
 *   p_j / (1 − P_C)`, weigh `(1 − P_C) / (s·p_j)` each. Unbiased for any p that is positive wherever `x_iᵀ·dy_i ≠ 0`,
 *   and of lower variance than CRS when the winners hold more than their share of the mass (`P_C ≥ |C| / k`).
 * - `"top-k"`: the k most probable rows with weight 1 and no reweighting: **biased** (the negative control).
 *
 * Rows with weight 0 are never kept: a weight of 0 must mean the row contributes nothing (a zero input row, or a
 * padding token whose output gradient is zero). When at most k rows have a positive weight, all of them are kept with
 * weight 1 and the estimate is exact.
 *
 * References: Liu, Wang et al., "Winner-Take-All Column Row Sampling for Memory Efficient Adaptation of Language
 * Model", NeurIPS 2023, arXiv:2305.15265; Drineas, Kannan, Mahoney, "Fast Monte Carlo Algorithms for Matrices I".
 * @module
 */
import type { Rng } from "../data/rng.ts";

/** How the kept rows are chosen and weighted (see the module doc). */
export type Estimator = "wta-crs" | "crs" | "top-k";

/** The estimators, in the order the experiments list them. */
export const ESTIMATORS: readonly Estimator[] = Object.freeze(["wta-crs", "crs", "top-k"]);

/** The rows a sample keeps and their weights. */
export interface RowSample {
  /** Kept row indices, ascending (a row drawn twice appears twice). */
  readonly indices: Int32Array;
  /** Weight of each kept row (1 for winners, the reweighting for sampled rows). */
  readonly scales: Float32Array;
  /** How many of the rows are deterministic winners (all of them for `"top-k"` and for an exact sample). */
  readonly winners: number;
  /** True when every row of positive weight is kept with weight 1 (the estimate equals the exact gradient). */
  readonly exact: boolean;
}

/**
 * The row budget `k = clamp(⌊ratio·n⌋, minK, n)`.
 *
 * @example Usage
 * ```ts
 * import { rowBudget } from "./estimator.ts";
 * rowBudget(4096, 0.3, 10); // 1228
 * rowBudget(20, 0.1, 10); // 10
 * ```
 */
export function rowBudget(n: number, ratio: number, minK: number): number {
  // The epsilon keeps ⌊0.29·100⌋ at 29 (0.29·100 is 28.999999999999996 in floating point).
  return Math.min(n, Math.max(minK, Math.floor(ratio * n + 1e-9)));
}

/**
 * The adaptive winner count of WTA-CRS: with `S_c` the mass of the c most probable rows, `score(c) = (1 − S_c) /
 * (k − c)` for c = 1..k−1; the count is the c of least score, or 0 (plain CRS) when `1/k` is below that score. This is
 * the variance condition `(1 − P_C)/(k − |C|) ≤ 1/k` under which WTA-CRS beats CRS.
 *
 * @param sorted Row weights in decreasing order (need not sum to 1).
 * @param total The sum of all the weights.
 * @param k The row budget.
 *
 * @example Usage
 * ```ts
 * import { adaptiveWinnerCount } from "./estimator.ts";
 * adaptiveWinnerCount([8, 1, 1, 1, 1], 12, 3); // 1: one row holds two thirds of the mass
 * adaptiveWinnerCount([1, 1, 1, 1, 1], 5, 3); // 0: flat weights, plain CRS
 * ```
 */
export function adaptiveWinnerCount(sorted: ArrayLike<number>, total: number, k: number): number {
  let top = 0, best = Infinity, bestC = 0;
  for (let c = 1; c < k && c <= sorted.length; c++) {
    top += sorted[c - 1];
    const score = Math.max(total - top, 0) / total / (k - c);
    if (score < best) {
      best = score;
      bestC = c;
    }
  }
  return 1 / k < best ? 0 : bestC;
}

/** A uniform float in [0, 1) with 53 bits of resolution, from two 32-bit draws. */
function uniform53(rng: Rng): number {
  const hi = rng.nextU32() >>> 5, lo = rng.nextU32() >>> 6; // 27 + 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/**
 * Chooses k rows by `estimator` from per-row sampling weights (see the module doc for the estimators and their
 * weights). The draws come from `rng` only, so the same weights and generator state give the same rows.
 *
 * @param weights Sampling weight per row, finite and ≥ 0 (0: the row contributes nothing and is never kept).
 * @param k Row budget, an integer in [1, weights.length].
 * @param estimator `"wta-crs"`, `"crs"` or `"top-k"`.
 * @param rng Where the draws come from.
 * @throws {RangeError} on a bad `k` or a negative or non-finite weight.
 *
 * @example Usage
 * ```ts
 * import { Rng } from "../data/rng.ts";
 * import { sampleRows } from "./estimator.ts";
 * import assert from "node:assert/strict";
 *
 * const s = sampleRows([9, 1, 1, 1, 1, 1], 3, "wta-crs", new Rng(0));
 * assert.equal(s.indices.length, 3);
 * assert.equal(s.indices[0], 0); // the winner, weight 1
 * assert.equal(s.scales[0], 1);
 * ```
 */
export function sampleRows(weights: ArrayLike<number>, k: number, estimator: Estimator, rng: Rng): RowSample {
  const n = weights.length;
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new RangeError(`Cannot sample rows: 'k' must be an integer in [1, ${n}]: current value is ${k}`);
  }
  let total = 0, m = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (!(w >= 0) || !Number.isFinite(w)) {
      throw new RangeError(`Cannot sample rows: weights must be finite and >= 0: current value at row ${i} is ${w}`);
    }
    if (w > 0) {
      total += w;
      m++;
    }
  }
  if (m <= k) {
    const indices = new Int32Array(m);
    for (let i = 0, t = 0; i < n; i++) if (weights[i] > 0) indices[t++] = i;
    return { indices, scales: new Float32Array(m).fill(1), winners: m, exact: true };
  }
  // The weights in decreasing order (a typed-array sort: no comparator, no index array).
  const sorted = Float64Array.from(weights).sort().reverse();
  const c = estimator === "top-k" ? k : estimator === "wta-crs" ? adaptiveWinnerCount(sorted, total, k) : 0;
  // Winners: the c heaviest rows; among rows tied with the c-th weight, the lowest indices.
  const winner = new Uint8Array(n);
  if (c > 0) {
    const t = sorted[c - 1];
    let ties = c;
    for (let i = 0; i < n; i++) if (weights[i] > t) (winner[i] = 1, ties--);
    for (let i = 0; i < n && ties > 0; i++) if (weights[i] === t) (winner[i] = 1, ties--);
  }
  const s = k - c;
  const counts = new Uint32Array(n);
  const cdf = new Float64Array(n);
  let mass = 0;
  if (s > 0) {
    // The residual distribution over the non-winners, in row order (winners and zero rows have zero width, so the
    // search below, for the first cumulative weight above u, never lands on them).
    for (let i = 0; i < n; i++) cdf[i] = mass += winner[i] ? 0 : weights[i];
    for (let d = 0; d < s; d++) {
      const u = uniform53(rng) * mass;
      let lo = 0, hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      counts[lo]++;
    }
  }
  const indices = new Int32Array(k), scales = new Float32Array(k);
  for (let i = 0, t = 0; i < n; i++) {
    if (winner[i]) (indices[t] = i, scales[t++] = 1);
    // (1 − P_C) / (s·p_j) with p = w / total, which is mass / (s·w_j); a row drawn twice is kept twice.
    for (let r = 0; r < counts[i]; r++) (indices[t] = i, scales[t++] = mass / (s * weights[i]));
  }
  return { indices, scales, winners: c, exact: false };
}
