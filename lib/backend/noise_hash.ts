/**
 * The counter-based noise of Mesa's stochastic rounding, in JS: the one definition the JS paths share (the reference
 * `fillUniform` in `lib/mesa/noise.ts` and the fused kernel's JS fallback in `fused_mesa.ts`); the SIMD kernel in
 * `simd.ts` computes the same bits. It lives in the backend because the backend must not import techniques.
 * @module
 */

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
 * the fused kernel draws four at a time (`mesaQuantize` in `lib/backend/simd.ts` computes the same bits).
 *
 * @example Usage
 * ```ts
 * import { mixSeed, uniformAt } from "./noise_hash.ts";
 * uniformAt(mixSeed(7, 0), 3); // element 3's noise for seed 7 (fillUniform in lib/mesa/noise.ts)
 * ```
 */
export function uniformAt(key: number, i: number): number {
  let h = Math.imul(i, 0x9e3779b1) ^ key;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 8) * 5.960464477539063e-8; // 2^-24
}
