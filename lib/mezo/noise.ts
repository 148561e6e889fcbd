/**
 * MeZO's perturbation directions z, defined once: a counter-based generator keyed by (seed, parameter name, element
 * index), so any element of any tensor's z is computable on its own, in any order, by any implementation, and no
 * other random-number consumer can shift it. The definition is the float32 arithmetic below (every step a float32
 * operation, emulated here with `Math.fround`); the SIMD loops (`simd.ts`) perform the same operations four lanes at
 * a time and are tested bit-for-bit against {@linkcode axpzInto}.
 *
 * - The uniform stream: `U(key, j) = fmix32(j·φ ⊕ key)` (murmur3's finalizer; φ = 0x9e3779b1).
 * - Gaussian (default): Box-Muller on the pair `p` of element `i`. Elements come in blocks of 8: element `i` has pair
 *   `p = 4·⌊i/8⌋ + (i mod 4)` and takes the cosine branch when `i mod 8 < 4`, the sine branch otherwise, with
 *   `u₁ = (⌊U(key, 2p)/2⁸⌋ + 1)/2²⁴ ∈ (0, 1]` and the angle from `U(key, 2p+1)`. `ln u₁` is an atanh series on the
 *   float's mantissa (|error| < 1e-7), sin/cos are Taylor polynomials on a quarter turn. |z| ≤ 5.77 (the 24-bit
 *   u₁), a truncation that removes probability 8e-9 of a normal.
 * - Rademacher: `z = ±1` from the sign bit of `U(key, i)`.
 * @module
 */
import { Rng } from "../data/rng.ts";

/** The distribution of z. */
export type NoiseKind = "gaussian" | "rademacher";

const PHI = 0x9e3779b1 | 0, C1 = 0x85ebca6b | 0, C2 = 0xc2b2ae35 | 0;
const f = Math.fround;

/** The float32 constants of the Gaussian, shared with the SIMD loops. */
export const GAUSS: Readonly<{
  phi: number;
  c1: number;
  c2: number;
  sqrt2: number;
  ln2: number;
  halfPi: number;
  rsqrt2: number;
  inv: readonly number[];
}> = Object.freeze({
  phi: PHI,
  c1: C1,
  c2: C2,
  sqrt2: f(Math.SQRT2),
  ln2: f(Math.LN2),
  halfPi: f(Math.PI / 2),
  rsqrt2: f(Math.SQRT1_2),
  /** 1/3, 1/5, 1/7, 1/9 (log series), 1/6, 1/120, 1/5040 (sin), 1/24, 1/720, 1/40320 (cos), as float32. */
  inv: Object.freeze([3, 5, 7, 9, 6, 120, 5040, 24, 720, 40320].map((d) => f(1 / d))),
});

const [I3, I5, I7, I9, I6, I120, I5040, I24, I720, I40320] = GAUSS.inv;
const { sqrt2: SQRT2, ln2: LN2, halfPi: HALF_PI, rsqrt2: R } = GAUSS;

/** `U(key, j)`: the 32-bit uniform `fmix32(j·φ ⊕ key)` as a signed int32. */
export function hashAt(key: number, j: number): number {
  let h = Math.imul(j, PHI) ^ key;
  h = Math.imul(h ^ (h >>> 16), C1);
  h = Math.imul(h ^ (h >>> 13), C2);
  return h ^ (h >>> 16);
}

const scratch = new DataView(new ArrayBuffer(4));

/** `[cos-branch z, sin-branch z]` of pair `p` under `key`, each a float32. */
function gaussPair(key: number, p: number): [number, number] {
  const h1 = hashAt(key, 2 * p), h2 = hashAt(key, 2 * p + 1);
  // ln u1, u1 = x·2^-24 with x = (h1 >>> 8) + 1 in [1, 2^24] (exact in float32)
  scratch.setFloat32(0, (h1 >>> 8) + 1);
  const bits = scratch.getInt32(0);
  let e = (bits >>> 23) - 127;
  scratch.setInt32(0, (bits & 0x7fffff) | 0x3f800000);
  let m = scratch.getFloat32(0); // [1, 2)
  if (m > SQRT2) {
    m = f(m * 0.5);
    e += 1;
  }
  const s = f(f(m - 1) / f(m + 1)), s2 = f(s * s);
  let q = f(f(I9 * s2) + I7);
  q = f(f(q * s2) + I5);
  q = f(f(q * s2) + I3);
  q = f(f(q * s2) + 1);
  const lnU = f(f(f(2 * s) * q) + f((e - 24) * LN2));
  const r = f(Math.sqrt(f(-2 * lnU)));
  // angle (k + 1/2)·π/2 + t, t in [-π/4, π/4)
  const k = h2 >>> 30;
  const t = f(f(((h2 >>> 6) & 0xffffff) * 5.960464477539063e-8 - 0.5) * HALF_PI);
  const t2 = f(t * t);
  let ps = f(I120 - f(t2 * I5040));
  ps = f(I6 - f(t2 * ps));
  ps = f(1 - f(t2 * ps));
  const st = f(t * ps);
  let pc = f(I720 - f(t2 * I40320));
  pc = f(I24 - f(t2 * pc));
  pc = f(0.5 - f(t2 * pc));
  const ct = f(1 - f(t2 * pc));
  const ca = ((k + 1) >> 1) & 1 ? -R : R, sa = k >> 1 ? -R : R;
  const cosv = f(f(ca * ct) - f(sa * st)), sinv = f(f(sa * ct) + f(ca * st));
  return [f(r * cosv), f(r * sinv)];
}

/**
 * Element `i` of the Gaussian z under `key` (a float32 value).
 *
 * @example Usage
 * ```ts
 * import { gaussianAt, noiseKey } from "./noise.ts";
 * const key = noiseKey(7, "blocks.0.mlp.fc1.w");
 * gaussianAt(key, 3) === gaussianAt(key, 3); // true: counter-based
 * ```
 */
export function gaussianAt(key: number, i: number): number {
  const p = ((i >>> 3) << 2) | (i & 3);
  return gaussPair(key, p)[(i >>> 2) & 1];
}

/**
 * Element `i` of the Rademacher z under `key`: `+1` or `-1`.
 *
 * @example Usage
 * ```ts
 * import { noiseKey, rademacherAt } from "./noise.ts";
 * Math.abs(rademacherAt(noiseKey(1, "w"), 0)); // 1
 * ```
 */
export function rademacherAt(key: number, i: number): number {
  return hashAt(key, i) < 0 ? -1 : 1;
}

/**
 * The key of one tensor's z: the step's seed and the parameter's name (FNV-1a, then murmur3's finalizer). Different
 * names give unrelated streams, so z of a tensor does not depend on the other tensors or their order.
 *
 * @example Usage
 * ```ts
 * import { noiseKey } from "./noise.ts";
 * noiseKey(1, "a.w") !== noiseKey(1, "b.w"); // true
 * ```
 */
export function noiseKey(seed: number, name: string): number {
  let h = hashAt(seed | 0, 0x2545f491);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return hashAt(h, 0x6a09e667);
}

/**
 * The seed of estimate `j` of step `step` of a run seeded `seed` (a uint32): derived from those numbers alone
 * (`Rng(seed).fork(step).fork(j)`), so a step's directions do not depend on what ran before.
 *
 * @example Usage
 * ```ts
 * import { stepSeed } from "./noise.ts";
 * stepSeed(0, 5, 0) === stepSeed(0, 5, 0); // true
 * ```
 */
export function stepSeed(seed: number, step: number, j: number): number {
  return new Rng(seed).fork(step).fork(j).nextU32();
}

/**
 * The definition of every use of z: `out[i] = fround(fround(a·θ[i]) + fround(c·z_i))` for `i` in `[start, end)`,
 * with z under `key` (`a = 1` makes the first product exact: θ itself). MeZO's perturbation is `a = 1, c = ±ε`; its
 * update is `a = 1 − lr·wd, c = −lr·g`. `out` may be `theta` (in place).
 *
 * @example θ + ε·z
 * ```ts
 * import { axpzInto, gaussianAt, noiseKey } from "./noise.ts";
 * import assert from "node:assert/strict";
 *
 * const theta = new Float32Array([1, 2, 3]), out = new Float32Array(3), key = noiseKey(0, "w");
 * axpzInto(out, theta, 1, 1e-3, key, "gaussian");
 * assert.equal(out[2], Math.fround(3 + Math.fround(1e-3 * gaussianAt(key, 2))));
 * ```
 */
export function axpzInto(
  out: Float32Array,
  theta: Float32Array,
  a: number,
  c: number,
  key: number,
  kind: NoiseKind,
  start = 0,
  end: number = theta.length,
): void {
  const af = f(a), cf = f(c);
  if (kind === "rademacher") {
    for (let i = start; i < end; i++) out[i] = f(f(af * theta[i]) + (hashAt(key, i) < 0 ? -cf : cf));
    return;
  }
  let i = start;
  while (i < end) {
    const blockEnd = Math.min(end, ((i >>> 3) + 1) << 3);
    // the block's (up to) 4 pairs, computed once each
    const pairs = new Map<number, [number, number]>();
    for (; i < blockEnd; i++) {
      const p = ((i >>> 3) << 2) | (i & 3);
      let zz = pairs.get(p);
      if (zz === undefined) pairs.set(p, zz = gaussPair(key, p));
      out[i] = f(f(af * theta[i]) + f(cf * zz[(i >>> 2) & 1]));
    }
  }
}
