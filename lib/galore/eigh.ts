/**
 * The symmetric eigen-decomposition of a small matrix by cyclic Jacobi rotations in Float64: the last step of the
 * randomized subspace iteration (`randomized.ts`), where the matrix is `k × k` with `k = rank + oversampling`.
 * @module
 */

/** What {@linkcode symmetricEigen} returns. */
export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Eigenvectors as the columns of an `n × n` row-major matrix (`vectors[i * n + j]` is entry i of vector j). */
  vectors: Float64Array;
  /** Jacobi sweeps run. */
  sweeps: number;
}

/**
 * Eigenvalues and orthonormal eigenvectors of a symmetric `n × n` row-major matrix (only its symmetric part is
 * used: `(a + aᵀ) / 2`), by cyclic Jacobi rotations until the off-diagonal mass is below `1e-15` of the total (at
 * most `maxSweeps` sweeps), sorted largest first.
 *
 * @param a The matrix, row-major; not modified.
 * @param n Its order.
 * @param maxSweeps Upper bound on full sweeps. @default {60}
 * @returns Values (descending), vectors (as columns) and the sweep count.
 * @throws {RangeError} when `n` is not a positive integer or `a` is shorter than `n * n`.
 *
 * @example Usage
 * ```ts
 * import { symmetricEigen } from "./eigh.ts";
 * import assert from "node:assert/strict";
 *
 * const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
 * assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
 * assert.ok(Math.abs(Math.abs(vectors[0]) - Math.SQRT1_2) < 1e-12); // (1, 1)/√2
 * ```
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, maxSweeps = 60): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot decompose: 'n' must be a positive integer: current value is ${n}`);
  }
  if (a.length < n * n) {
    throw new RangeError(`Cannot decompose: 'a' must hold ${n * n} elements: current length is ${a.length}`);
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  // vt holds the eigenvectors as rows (contiguous updates); returned as columns.
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += m[i] * m[i];
  const tiny = 1e-18 * Math.sqrt(total);
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += 2 * m[p * n + q] * m[p * n + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p], aqq = m[q * n + q];
        // Skip rotations too small to change the diagonal (they would only churn rounding noise).
        if (Math.abs(apq) < tiny && Math.abs(apq) * 1e12 < Math.abs(app - aqq)) {
          m[p * n + q] = m[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        // M ← JᵀMJ for the rotation J in the (p, q) plane. M stays symmetric, so rows p and q are updated
        // (contiguous) and mirrored into columns p and q; the 2×2 block is set in closed form.
        const rp = p * n, rq = q * n;
        for (let k = 0; k < n; k++) {
          const mpk = m[rp + k], mqk = m[rq + k];
          m[rp + k] = c * mpk - s * mqk;
          m[rq + k] = s * mpk + c * mqk;
        }
        m[rp + p] = app - t * apq;
        m[rq + q] = aqq + t * apq;
        m[rp + q] = m[rq + p] = 0;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          m[k * n + p] = m[rp + k];
          m[k * n + q] = m[rq + k];
        }
        for (let k = 0; k < n; k++) {
          const vp = vt[rp + k], vq = vt[rq + k];
          vt[rp + k] = c * vp - s * vq;
          vt[rq + k] = s * vp + c * vq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const row = order[j] * n;
    for (let k = 0; k < n; k++) vectors[k * n + j] = vt[row + k];
  }
  return { values, vectors, sweeps };
}
