/**
 * The quantizer's code levels and range epsilon, shared by the op chains (`quantize.ts`) and the fused kernels
 * (`kernels.ts`, `simd.ts`).
 * @module
 */

/**
 * Number of code levels (8 bits): codes run 0..255 and the step is Δ = α/(LEVELS − 1).
 *
 * @example Usage
 * ```ts
 * import { LEVELS } from "./levels.ts";
 * const delta = 2 / (LEVELS - 1); // step for a range α = 2
 * ```
 */
export const LEVELS = 256;

/**
 * Added to every range α so a zero-range (constant) group quantizes to β exactly instead of NaN.
 *
 * @example Usage
 * ```ts
 * import { RANGE_EPS } from "./levels.ts";
 * const scale = 255 / (0 + RANGE_EPS); // finite for a constant group
 * ```
 */
export const RANGE_EPS = 1e-8;
