/**
 * A small Householder QR in Float64 JavaScript: the orthonormalization step of the randomized subspace iteration
 * (`randomized.ts`), usable without LAPACK.
 * @module
 */

/**
 * The thin Q factor of a `rows × cols` row-major matrix (`rows >= cols`): `cols` orthonormal columns spanning the
 * columns of `a` (when `a` has full column rank), by Householder reflections in Float64. Rank-deficient input is
 * fine: a column with nothing left below the diagonal gets the identity reflection, so Q stays orthonormal.
 *
 * @param a The matrix, row-major (`a[i * cols + j]`); not modified.
 * @param rows Number of rows.
 * @param cols Number of columns, at most `rows`.
 * @returns Q, `rows × cols` row-major, with `QᵀQ = I`.
 * @throws {RangeError} when the sizes are not integers with `1 <= cols <= rows`, or `a` is shorter than
 * `rows * cols`.
 *
 * @example Usage
 * ```ts
 * import { householderQ } from "./qr.ts";
 * import assert from "node:assert/strict";
 *
 * const q = householderQ([3, 1, 4, 1, 0, 2], 3, 2); // 3×2
 * const dot = q[0] * q[1] + q[2] * q[3] + q[4] * q[5];
 * assert.ok(Math.abs(dot) < 1e-12);
 * assert.ok(Math.abs(q[0] ** 2 + q[2] ** 2 + q[4] ** 2 - 1) < 1e-12);
 * ```
 */
export function householderQ(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || cols < 1 || rows < cols) {
    throw new RangeError(
      `Cannot orthonormalize: 'cols' must be an integer in [1, rows = ${rows}]: current value is ${cols}`,
    );
  }
  if (a.length < rows * cols) {
    throw new RangeError(
      `Cannot orthonormalize: 'a' must hold ${rows * cols} elements (${rows}x${cols}): current length is ${a.length}`,
    );
  }
  // Column-major working copy: column j is w[j*rows .. j*rows + rows).
  const w = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) w[j * rows + i] = a[i * cols + j];
  const vs: (Float64Array | null)[] = [];
  const betas = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    const base = j * rows;
    let norm2 = 0;
    for (let i = j; i < rows; i++) norm2 += w[base + i] * w[base + i];
    const norm = Math.sqrt(norm2);
    if (norm === 0) {
      vs.push(null);
      continue;
    }
    const x0 = w[base + j];
    const alpha = x0 >= 0 ? -norm : norm; // reflect onto -sign(x0)·|x|·e_j: no cancellation in v[0]
    const v = new Float64Array(rows - j);
    for (let i = j; i < rows; i++) v[i - j] = w[base + i];
    v[0] -= alpha;
    let vn2 = 0;
    for (let i = 0; i < v.length; i++) vn2 += v[i] * v[i];
    if (vn2 === 0) {
      vs.push(null);
      continue;
    }
    const beta = 2 / vn2;
    vs.push(v);
    betas[j] = beta;
    for (let c = j; c < cols; c++) applyReflection(w, c * rows + j, v, beta);
  }
  // Q = H_0 H_1 … H_{cols-1} I[:, :cols], applied right to left. Column c < j of the partial product is still e_c,
  // which H_j (acting on rows >= j) leaves alone, so only columns >= j are touched.
  const q = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c++) q[c * rows + c] = 1;
  for (let j = cols - 1; j >= 0; j--) {
    const v = vs[j];
    if (v === null) continue;
    for (let c = j; c < cols; c++) applyReflection(q, c * rows + j, v, betas[j]);
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = q[j * rows + i];
  return out;
}

/** x ← (I − β v vᵀ) x for the segment `m[offset .. offset + v.length)`. */
function applyReflection(m: Float64Array, offset: number, v: Float64Array, beta: number): void {
  let dot = 0;
  for (let i = 0; i < v.length; i++) dot += v[i] * m[offset + i];
  const f = beta * dot;
  if (f === 0) return;
  for (let i = 0; i < v.length; i++) m[offset + i] -= f * v[i];
}
