/**
 * Monte-Carlo helpers for the WTA-CRS tests: a fixed heavy-tailed problem `G = Xᵀ·dY`, and the mean, standard error
 * and total variance of an estimator over many draws, in plain float64 arithmetic.
 * @module
 */
import { Rng } from "../../lib/data/rng.ts";
import { type Estimator, rowBudget, sampleRows } from "../../lib/wtacrs/estimator.ts";

/** A weight-gradient problem: rows of X `[n, a]` and dY `[n, b]`, row-major. */
export interface Problem {
  n: number;
  a: number;
  b: number;
  x: Float64Array;
  dy: Float64Array;
}

/** A problem whose row norms are heavy-tailed (a few rows carry most of `‖x_i‖·‖dy_i‖`), from `seed`. */
export function heavyTailed(seed: number, n = 40, a = 3, b = 2): Problem {
  const rng = new Rng(seed);
  const x = new Float64Array(n * a), dy = new Float64Array(n * b);
  for (let i = 0; i < n; i++) {
    const sx = i < 4 ? 6 : 1, sd = i < 4 ? 4 : 1 + rng.uniform();
    for (let j = 0; j < a; j++) x[i * a + j] = sx * rng.normal();
    for (let j = 0; j < b; j++) dy[i * b + j] = sd * rng.normal();
  }
  return { n, a, b, x, dy };
}

/** The exact `Xᵀ·dY`, `[a, b]` row-major. */
export function exact(p: Problem): Float64Array {
  const g = new Float64Array(p.a * p.b);
  for (let i = 0; i < p.n; i++) {
    for (let r = 0; r < p.a; r++) for (let c = 0; c < p.b; c++) g[r * p.b + c] += p.x[i * p.a + r] * p.dy[i * p.b + c];
  }
  return g;
}

/** Row weights `‖x_i‖·‖dy_i‖` (or `‖x_i‖` alone). */
export function rowWeights(p: Problem, withGrad = true): Float64Array {
  const w = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) {
    let nx = 0, nd = 0;
    for (let j = 0; j < p.a; j++) nx += p.x[i * p.a + j] ** 2;
    for (let j = 0; j < p.b; j++) nd += p.dy[i * p.b + j] ** 2;
    w[i] = Math.sqrt(nx) * (withGrad ? Math.sqrt(nd) : 1);
  }
  return w;
}

/** One estimate from a row sample. */
export function estimate(p: Problem, indices: ArrayLike<number>, scales: ArrayLike<number>): Float64Array {
  const g = new Float64Array(p.a * p.b);
  for (let t = 0; t < indices.length; t++) {
    const i = indices[t], s = scales[t];
    for (let r = 0; r < p.a; r++) {
      for (let c = 0; c < p.b; c++) g[r * p.b + c] += s * p.x[i * p.a + r] * p.dy[i * p.b + c];
    }
  }
  return g;
}

/** Mean, standard error of the mean per entry, total variance and mean squared error over `draws` estimates. */
export interface McStats {
  mean: Float64Array;
  se: Float64Array;
  totalVariance: number;
  mse: number;
  winners: number;
}

/** Runs `draws` estimates with `estimator` at budget `k` (seeded by `seed`). */
export function monteCarlo(
  p: Problem,
  weights: ArrayLike<number>,
  k: number,
  estimator: Estimator,
  draws: number,
  seed = 1,
): McStats {
  const m = p.a * p.b, truth = exact(p);
  const sum = new Float64Array(m), sq = new Float64Array(m);
  let err = 0, winners = 0;
  const rng = new Rng(seed);
  for (let d = 0; d < draws; d++) {
    const s = sampleRows(weights, k, estimator, rng);
    winners = s.winners;
    const g = estimate(p, s.indices, s.scales);
    for (let j = 0; j < m; j++) {
      sum[j] += g[j];
      sq[j] += g[j] * g[j];
      err += (g[j] - truth[j]) ** 2;
    }
  }
  const mean = sum.map((v) => v / draws);
  const variance = sq.map((v, j) => Math.max(v / draws - mean[j] ** 2, 0) * draws / (draws - 1));
  return {
    mean,
    se: variance.map((v) => Math.sqrt(v / draws)),
    totalVariance: variance.reduce((a, b) => a + b, 0),
    mse: err / draws,
    winners,
  };
}

export { rowBudget };
