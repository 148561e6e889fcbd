/**
 * Test fixtures for GaLore: random orthonormal bases, matrices with a known spectrum, and subspace distances.
 * @module
 */
import { Rng } from "../../lib/data/rng.ts";
import { householderQ } from "../../lib/galore/qr.ts";

/** `rows × cols` (rows >= cols) row-major with orthonormal columns, from a seeded Gaussian matrix. */
export function randomOrthonormal(rows: number, cols: number, seed: number): Float64Array {
  const g = new Rng(seed).fillNormal(new Float64Array(rows * cols));
  return householderQ(g, rows, cols);
}

/** A row-major m × n matrix U diag(s) Vᵀ with random orthonormal U (m × k), V (n × k), k = s.length; and U, V. */
export function knownSpectrum(
  m: number,
  n: number,
  s: readonly number[],
  seed: number,
): { a: Float32Array; u: Float64Array; v: Float64Array } {
  const k = s.length;
  const u = randomOrthonormal(m, k, seed), v = randomOrthonormal(n, k, seed + 1);
  const a = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) acc += u[i * k + l] * s[l] * v[j * k + l];
      a[i * n + j] = acc;
    }
  }
  return { a, u, v };
}

/** The first `r` columns of a `rows × k` row-major matrix, as a `rows × r` row-major matrix. */
export function firstColumns(x: ArrayLike<number>, rows: number, k: number, r: number): Float64Array {
  const out = new Float64Array(rows * r);
  for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) out[i * r + j] = x[i * k + j];
  return out;
}

/** The transpose of a `rows × cols` row-major matrix. */
export function transpose(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/** max |QᵀQ − I| for a `rows × cols` row-major Q. */
export function orthonormalityError(q: ArrayLike<number>, rows: number, cols: number): number {
  let worst = 0;
  for (let a = 0; a < cols; a++) {
    for (let b = 0; b < cols; b++) {
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += q[i * cols + a] * q[i * cols + b];
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

/**
 * The distance of the subspaces spanned by the columns of two `rows × r` row-major matrices with orthonormal
 * columns: ‖P Pᵀ − Q Qᵀ‖_F / √2 (the root sum of squared sines of the principal angles); basis-independent. Computed
 * entry by entry (not as r − ‖PᵀQ‖², which cancels down to √(float32 rounding) ≈ 3e-4).
 */
export function subspaceDistance(p: ArrayLike<number>, q: ArrayLike<number>, rows: number, r: number): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += p[i * r + k] * p[j * r + k] - q[i * r + k] * q[j * r + k];
      sum += d * d;
    }
  }
  return Math.sqrt(sum / 2);
}
