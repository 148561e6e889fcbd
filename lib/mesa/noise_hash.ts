/**
 * The counter-based noise of Mesa's stochastic rounding, defined once: {@linkcode uniformAt} (with
 * {@linkcode mixSeed} for the key). The other implementations and how they are tied to it:
 * - the reference `fillUniform` (`noise.ts`) and the fused kernel's JS loop (`kernels.ts`) call it;
 * - the SIMD loops (`simd.ts`: `vNoise` four lanes at a time, `sNoise` for the tail) use {@linkcode NOISE_HASH}'s
 *   constants and are tested bit-for-bit against it (`tests/mesa/noise_hash_test.ts`).
 * @module
 */

const PHI = 0x9e3779b1 | 0, C1 = 0x85ebca6b | 0, C2 = 0xc2b2ae35 | 0, UNIT = 5.960464477539063e-8; // UNIT = 2^-24

/**
 * The hash's constants: the golden-ratio multiplier of the element index, the murmur3 finalizer's two multipliers,
 * and the scale of the top 24 bits to [0, 1).
 */
export const NOISE_HASH: { readonly phi: number; readonly c1: number; readonly c2: number; readonly unit: number } =
  Object.freeze({ phi: PHI, c1: C1, c2: C2, unit: UNIT });

/**
 * Mixes a seed and a counter into a non-zero 32-bit state (a murmur3-style finalizer), so nearby counters give
 * unrelated streams.
 *
 * @example Usage
 * ```ts
 * import { mixSeed } from "./noise_hash.ts";
 * mixSeed(0, 1) !== mixSeed(0, 2); // true
 * ```
 */
export function mixSeed(seed: number, counter: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul((counter | 0) + 0x632be5ab, 0x85ebca77)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 0x2545f491 : h;
}

/**
 * The noise value of element `i` under `key` (= `mixSeed(seed, 0)`): a murmur3 finalizer of `i·φ ⊕ key`, top 24 bits,
 * uniform in [0, 1) (largest value 1 − 2⁻²⁴). Counter-based, so any element's value is computable on its own and
 * the fused kernel draws four at a time.
 *
 * @example Usage
 * ```ts
 * import { mixSeed, uniformAt } from "./noise_hash.ts";
 * uniformAt(mixSeed(7, 0), 3); // element 3's noise for seed 7 (fillUniform in noise.ts)
 * ```
 */
export function uniformAt(key: number, i: number): number {
  let h = Math.imul(i, PHI) ^ key;
  h = Math.imul(h ^ (h >>> 16), C1);
  h = Math.imul(h ^ (h >>> 13), C2);
  h ^= h >>> 16;
  return (h >>> 8) * UNIT;
}
