/**
 * The TypeScript fallback for GaLore's subspace: randomized subspace iteration (Halko, Martinsson & Tropp 2011,
 * arXiv:0909.4061, Alg. 4.4 with the re-orthonormalization on the projected side only), with the products on the
 * tfjs backend and the small dense steps (Householder QR, Jacobi eigen-decomposition) in Float64 JavaScript.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../data/rng.ts";
import { symmetricEigen } from "./eigh.ts";
import type { Side } from "./lapack.ts";
import { householderQ } from "./qr.ts";

/** Options for {@linkcode randomizedSubspace}. */
export interface RandomizedSubspaceOptions {
  /** Extra sampled directions beyond the rank (k = rank + oversample, at most the side's size). @default {8} */
  oversample?: number;
  /** Power iterations: each applies A·Aᵀ once more, sharpening the spectrum (σ^(2q+1)). @default {2} */
  powerIters?: number;
  /** The random stream of the test matrix Ω. @default {new Rng(0)} */
  rng?: Rng;
}

/**
 * An approximation of the top-`rank` singular subspace of one side of a 2-D tensor `g` (m × n), in the projector
 * layout of `lapackSubspace`: for `"left"` an `m × rank` row-major matrix with orthonormal columns, for `"right"` a
 * `rank × n` one with orthonormal rows.
 *
 * With A the matrix whose columns live on the projected side (A = g for "left", gᵀ for "right"; s × L) and
 * k = min(s, rank + oversample): Q = orth(A Ω) for a Gaussian L × k matrix Ω, then `powerIters` times
 * Q = orth(A (Aᵀ Q)); finally C = (AᵀQ)ᵀ(AᵀQ) = Qᵀ A Aᵀ Q (k × k, Float64) is diagonalized and the projector is
 * Q times its top-`rank` eigenvectors. When k = s the basis spans the whole side and the result is exact (the
 * eigenvectors of A Aᵀ), whatever Ω.
 *
 * @param g The matrix (a 2-D float32 tensor; not disposed).
 * @param rank The subspace dimension, in [1, min side].
 * @param side Which side's subspace.
 * @param options Oversampling, power iterations, the random stream.
 * @returns The projector as a Float32Array.
 * @throws {RangeError} when `g` is not 2-D or `rank`, `oversample` or `powerIters` is out of range.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { randomizedSubspace } from "./randomized.ts";
 * import assert from "node:assert/strict";
 *
 * const g = tf.tensor2d([[5, 0, 0], [0, 1, 0]]); // top left singular vector e1
 * const p = randomizedSubspace(g, 1, "left");
 * assert.ok(Math.abs(Math.abs(p[0]) - 1) < 1e-6 && Math.abs(p[1]) < 1e-6);
 * g.dispose();
 * ```
 */
export function randomizedSubspace(
  g: tf.Tensor,
  rank: number,
  side: Side,
  options: RandomizedSubspaceOptions = {},
): Float32Array {
  const fn = "Cannot run randomizedSubspace";
  if (g.rank !== 2) throw new RangeError(`${fn}: 'g' must be 2-D: current shape is [${g.shape}]`);
  const [m, n] = g.shape as [number, number];
  const s = side === "left" ? m : n, len = side === "left" ? n : m;
  if (!Number.isInteger(rank) || rank < 1 || rank > s) {
    throw new RangeError(`${fn}: 'rank' must be an integer in [1, ${s}]: current value is ${rank}`);
  }
  const oversample = options.oversample ?? 8, powerIters = options.powerIters ?? 2;
  if (!Number.isInteger(oversample) || oversample < 0) {
    throw new RangeError(`${fn}: 'oversample' must be a non-negative integer: current value is ${oversample}`);
  }
  if (!Number.isInteger(powerIters) || powerIters < 0) {
    throw new RangeError(`${fn}: 'powerIters' must be a non-negative integer: current value is ${powerIters}`);
  }
  const k = Math.min(s, rank + oversample);
  const g2 = g as tf.Tensor2D;
  // A·X for X (len × k) and Aᵀ·Q for Q (s × k), without materializing gᵀ.
  const aTimes = (x: tf.Tensor2D): tf.Tensor2D => side === "left" ? tf.matMul(g2, x) : tf.matMul(g2, x, true, false);
  const atTimes = (q: tf.Tensor2D): tf.Tensor2D => side === "left" ? tf.matMul(g2, q, true, false) : tf.matMul(g2, q);
  const orth = (y: tf.Tensor2D): tf.Tensor2D => {
    const q = householderQ(y.dataSync(), s, k);
    y.dispose();
    return tf.tensor2d(Float32Array.from(q), [s, k]);
  };
  const rng = options.rng ?? new Rng(0);
  let q: tf.Tensor2D;
  if (k === s) {
    q = tf.eye(s) as tf.Tensor2D; // the whole side: no sampling needed
  } else {
    const omega = tf.tensor2d(rng.fillNormal(new Float32Array(len * k)), [len, k]);
    q = orth(tf.tidy(() => aTimes(omega)));
    omega.dispose();
    for (let i = 0; i < powerIters; i++) {
      const next = orth(tf.tidy(() => aTimes(atTimes(q))));
      q.dispose();
      q = next;
    }
  }
  const z = tf.tidy(() => atTimes(q)); // len × k
  const zd = z.dataSync(), qd = q.dataSync();
  z.dispose();
  q.dispose();
  // C = zᵀz in Float64.
  const c = new Float64Array(k * k);
  for (let r = 0; r < len; r++) {
    const row = r * k;
    for (let i = 0; i < k; i++) {
      const zi = zd[row + i];
      if (zi === 0) continue;
      for (let j = i; j < k; j++) c[i * k + j] += zi * zd[row + j];
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) c[i * k + j] = c[j * k + i];
  const { vectors } = symmetricEigen(c, k);
  // U = Q W[:, :rank] (s × rank).
  const out = new Float32Array(s * rank);
  for (let a = 0; a < s; a++) {
    for (let i = 0; i < rank; i++) {
      let acc = 0;
      for (let j = 0; j < k; j++) acc += qd[a * k + j] * vectors[j * k + i];
      if (side === "left") out[a * rank + i] = acc;
      else out[i * s + a] = acc;
    }
  }
  return out;
}
