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
import { mixSeed, uniformAt } from "./noise_hash.ts";

export { mixSeed, uniformAt };

let scratch = new Float32Array(0);

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
