/**
 * Seeded uniform noise for stochastic rounding: a counter-based hash of the element index, generated in JS.
 *
 * `tf.randomUniform` draws with seedrandom's alea one value at a time (about 34 ms per million values on the wasm
 * backend here); this fills a typed array in a tight loop (about 3 ms per million) and uploads it. On wasm the upload
 * copies into the wasm heap, so one scratch array is reused; other backends may keep the array, so they get a fresh
 * one each call.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

let scratch = new Float32Array(0);

/**
 * Mixes a seed and a counter into a non-zero 32-bit state (a murmur3-style finalizer), so nearby counters give
 * unrelated streams.
 *
 * @example Usage
 * ```ts
 * import { mixSeed } from "./noise.ts";
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
 * import { mixSeed, uniformAt } from "./noise.ts";
 * uniformAt(mixSeed(7, 0), 3); // the same as fillUniform(new Float32Array(4), 7)[3]
 * ```
 */
export function uniformAt(key: number, i: number): number {
  let h = Math.imul(i, 0x9e3779b1) ^ key;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 8) * 5.960464477539063e-8; // 2^-24
}

/**
 * Fills `out` with values uniform in [0, 1): `out[i] = uniformAt(mixSeed(seed, 0), i)`.
 *
 * @example Usage
 * ```ts
 * import { fillUniform } from "./noise.ts";
 * const a = fillUniform(new Float32Array(4), 7); // same values for the same seed
 * ```
 */
export function fillUniform(out: Float32Array, seed: number): Float32Array {
  const key = mixSeed(seed, 0);
  for (let i = 0; i < out.length; i++) out[i] = uniformAt(key, i);
  return out;
}

/**
 * A float32 tensor of `shape` with seeded values uniform in [0, 1). The caller owns it.
 *
 * @example Usage
 * ```ts
 * import { uniformNoise } from "./noise.ts";
 * const u = uniformNoise([2, 3], 42); // reproducible for seed 42
 * u.dispose();
 * ```
 */
export function uniformNoise(shape: readonly number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let values: Float32Array;
  if (tf.getBackend() === "wasm") {
    if (scratch.length < n) scratch = new Float32Array(n);
    values = scratch.subarray(0, n);
  } else {
    values = new Float32Array(n);
  }
  return tf.tensor(fillUniform(values, seed), shape as number[], "float32");
}
