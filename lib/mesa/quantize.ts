/**
 * Mesa's 8-bit quantizer as pure tensor functions.
 *
 * Per group g with range α_g > 0 and minimum β_g, the codes are
 * `clamp(floor((x − β)·255/α + u), 0, 255)` with u ~ U[0, 1) (stochastic rounding: unbiased for x in
 * [β, β+α], error < Δ = α/255) or u = ½ (round to nearest: error ≤ Δ/2), and the dequantized value is
 * `x̂ = codes·α/255 + β`. Values outside [β, β+α] are clamped to the range ends, never wrapped (Mesa's CUDA kernel
 * has no upper clamp). α gets {@linkcode RANGE_EPS} added so a constant group gives no NaN.
 *
 * Groups come from a {@linkcode GroupLayout}: the tensor is viewed as `[pre, G, rest]` with the G groups as
 * contiguous blocks along the layer's group axis, so every reduction and broadcast runs over the innermost axis.
 *
 * {@linkcode groupMinMax}, {@linkcode quantizeBytes} and {@linkcode dequantize} of byte codes are ops of the backend's
 * kernel registry (group `"mesa"`): on the wasm and blas backends (no gradient tape recording, not switched off in the
 * backend options, e.g. by `MEMTRAIN_FUSED=0` or `MEMTRAIN_FUSED_MESA=0`) each runs one fused kernel (`kernels.ts`)
 * instead of the op chains here; the results are bit-identical (same float32 steps, same noise stream), and the op
 * chains stay the path everywhere else and the tests' oracle.
 *
 * References: Pan et al., "Mesa: A Memory-saving Training Framework for Transformers", arXiv:2111.11124.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../backend/registry.ts";
import { dequantizeKernel, MESA_KERNELS, minMaxKernel, quantizeKernel } from "./kernels.ts";
import { LEVELS, RANGE_EPS } from "./levels.ts";
import { uniformNoise } from "./noise.ts";
import { packBytes, unpackBytes } from "./storage.ts";

export { LEVELS, RANGE_EPS };

/**
 * Channel groups used for 2-D `[N, C]` tensors under `"head-wise"` grouping (the model presets have 4 heads, so this
 * matches Mesa's `quant_groups = num_heads`).
 *
 * @example Usage
 * ```ts
 * import { groupLayout, HEADWISE_CHANNEL_GROUPS } from "./quantize.ts";
 * groupLayout([10, 64], 1, "head-wise").groups === HEADWISE_CHANNEL_GROUPS; // true
 * ```
 */
export const HEADWISE_CHANNEL_GROUPS = 4;

/**
 * How a tensor is split into quantization groups:
 * - `"per-tensor"`: one group.
 * - `"head-wise"`: one group per index of the group axis for tensors of rank ≥ 3 (per head for `[B, H, T, dh]`
 *   q/k/v and attention maps), {@linkcode HEADWISE_CHANNEL_GROUPS} contiguous channel blocks for 2-D `[N, C]`.
 * - `{ groups: G }`: G contiguous blocks along the group axis (channel blocks for `[N, C]`, head blocks for
 *   `[B, H, T, dh]`).
 *
 * Tensors without a group axis, or whose axis length G does not divide, fall back to one group.
 */
export type Grouping = "per-tensor" | "head-wise" | { groups: number };

/** Stochastic rounding (Mesa's, unbiased) or round to nearest. */
export type Rounding = "stochastic" | "nearest";

/** A tensor viewed as `[pre, groups, rest]` for per-group statistics. */
export interface GroupLayout {
  /** Number of groups G. */
  readonly groups: number;
  /** `[pre, G, rest]`, the shape the tensor is reshaped to. */
  readonly shape3: readonly [number, number, number];
}

/**
 * The group layout of a tensor of `shape` whose layer names `groupAxis` as its natural grouping axis.
 *
 * @example Usage
 * ```ts
 * import { groupLayout } from "./quantize.ts";
 * groupLayout([2, 4, 8, 16], 1, "head-wise").shape3; // [2, 4, 128]
 * groupLayout([32, 64], 1, { groups: 8 }).shape3; // [32, 8, 8]
 * groupLayout([32, 64], undefined, "head-wise").groups; // 1
 * ```
 */
export function groupLayout(shape: readonly number[], groupAxis: number | undefined, grouping: Grouping): GroupLayout {
  const size = shape.reduce((a, b) => a * b, 1);
  const whole: GroupLayout = { groups: 1, shape3: [1, 1, size] };
  if (grouping === "per-tensor" || groupAxis === undefined || groupAxis < 0 || groupAxis >= shape.length) return whole;
  const len = shape[groupAxis];
  const g = grouping === "head-wise" ? (shape.length >= 3 ? len : HEADWISE_CHANNEL_GROUPS) : grouping.groups;
  if (g <= 1 || len % g !== 0) return whole;
  const pre = shape.slice(0, groupAxis).reduce((a, b) => a * b, 1);
  return { groups: g, shape3: [pre, g, size / pre / g] };
}

/** A layout as kernel attributes. */
function layoutAttrs(layout: GroupLayout): { pre: number; groups: number; rest: number } {
  const [pre, groups, rest] = layout.shape3;
  return { pre, groups, rest };
}

/** Per-group parameters `[G]` viewed as `[G, 1]` to broadcast against `[pre, G, rest]`. */
function col(t: tf.Tensor, groups: number): tf.Tensor {
  return t.reshape([groups, 1]);
}

/**
 * Per-group minimum and maximum, each `[G]` (two innermost-axis reductions per statistic; no transpose).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { groupLayout, groupMinMax } from "./quantize.ts";
 * const x = tf.tensor2d([[0, 1, 10, 20], [2, 3, 30, 40]]);
 * const { min, max } = groupMinMax(x, groupLayout(x.shape, 1, { groups: 2 }));
 * min.dataSync(); // Float32Array [0, 10]
 * max.dataSync(); // Float32Array [3, 40]
 * ```
 */
export function groupMinMax(x: tf.Tensor, layout: GroupLayout): { min: tf.Tensor1D; max: tf.Tensor1D } {
  return minMaxOp(x, layout);
}

const minMaxOp = fusedOp({
  name: MESA_KERNELS.minMax,
  group: "mesa",
  kernel: () => minMaxKernel as unknown as tf.KernelFunc,
  accepts: (x: tf.Tensor) => x.dtype === "float32",
  fused: (run, x: tf.Tensor, layout: GroupLayout) => {
    const [min, max] = run<tf.Tensor[]>({ x }, layoutAttrs(layout));
    return { min: min as tf.Tensor1D, max: max as tf.Tensor1D };
  },
  stock: (x: tf.Tensor, layout: GroupLayout) =>
    tf.tidy(() => {
      const x3 = x.reshape(layout.shape3 as [number, number, number]);
      return { min: tf.min(tf.min(x3, 2), 0) as tf.Tensor1D, max: tf.max(tf.max(x3, 2), 0) as tf.Tensor1D };
    }),
});

/** Options for {@linkcode quantize}. */
export interface QuantizeOptions {
  /** Stochastic rounding or round to nearest. @default {"stochastic"} */
  rounding?: Rounding;
  /** Seed of the rounding noise (stochastic only). @default {0} */
  seed?: number;
}

/**
 * Quantizes `x` to int32 codes in [0, 255] with per-group range `alpha [G]` and minimum `beta [G]`. The codes have
 * `x`'s shape; the caller owns them.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { dequantize, groupLayout, quantize } from "./quantize.ts";
 * const x = tf.tensor1d([0, 0.5, 1]);
 * const layout = groupLayout(x.shape, undefined, "per-tensor");
 * const [alpha, beta] = [tf.tensor1d([1]), tf.tensor1d([0])];
 * const codes = quantize(x, alpha, beta, layout, { rounding: "nearest" }); // [0, 128, 255]
 * dequantize(codes, alpha, beta, layout).dataSync(); // ≈ [0, 0.502, 1]
 * ```
 */
export function quantize(
  x: tf.Tensor,
  alpha: tf.Tensor,
  beta: tf.Tensor,
  layout: GroupLayout,
  options: QuantizeOptions = {},
): tf.Tensor {
  return tf.tidy(() => {
    const g = layout.groups;
    const x3 = x.reshape(layout.shape3 as [number, number, number]);
    const scale = tf.div(LEVELS - 1, tf.add(col(alpha, g), RANGE_EPS)); // 1/Δ per group
    const y = tf.mul(tf.sub(x3, col(beta, g)), scale); // in code units: [0, 255] when in range
    const r = options.rounding === "nearest" ? tf.add(y, 0.5) : tf.add(y, uniformNoise(x3.shape, options.seed ?? 0));
    // clamp, then truncate: for values in [0, 255] truncation is floor
    return tf.clipByValue(r, 0, LEVELS - 1).cast("int32").reshape(x.shape);
  });
}

/**
 * {@linkcode quantize} straight to 1-byte storage: the codes as a `bool` tensor of `x`'s shape (what
 * `packBytes(quantize(...))` gives). On wasm/blas one fused pass, bit-identical to the op chain. The caller owns it.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { groupLayout, quantizeBytes } from "./quantize.ts";
 * const x = tf.tensor1d([0, 0.5, 1]);
 * const layout = groupLayout(x.shape, undefined, "per-tensor");
 * const bytes = quantizeBytes(x, tf.tensor1d([1]), tf.tensor1d([0]), layout, { rounding: "nearest" });
 * bytes.dtype; // "bool"; bytes.cast("int32") holds [0, 128, 255]
 * ```
 */
export function quantizeBytes(
  x: tf.Tensor,
  alpha: tf.Tensor,
  beta: tf.Tensor,
  layout: GroupLayout,
  options: QuantizeOptions = {},
): tf.Tensor {
  return quantizeBytesOp(x, alpha, beta, layout, options);
}

const floats = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === "float32");

const quantizeBytesOp = fusedOp({
  name: MESA_KERNELS.quantize,
  group: "mesa",
  kernel: () => quantizeKernel,
  accepts: (x: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor) => floats(x, alpha, beta),
  fused: (run, x: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor, layout: GroupLayout, options: QuantizeOptions) =>
    run<tf.Tensor>({ x, alpha, beta }, {
      ...layoutAttrs(layout),
      seed: options.seed ?? 0,
      nearest: options.rounding === "nearest",
    }),
  stock: (x: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor, layout: GroupLayout, options: QuantizeOptions) =>
    tf.tidy(() => packBytes(quantize(x, alpha, beta, layout, options))),
});

/**
 * Dequantizes codes (int32, float32, or bytes from `packBytes`) back to float32 `codes·α/255 + β`, reshaped to
 * `shape` (default: the codes' shape). The caller owns the result.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { dequantize, groupLayout } from "./quantize.ts";
 * const layout = groupLayout([2], undefined, "per-tensor");
 * dequantize(tf.tensor1d([0, 255], "int32"), tf.tensor1d([2]), tf.tensor1d([-1]), layout).dataSync(); // ≈ [-1, 1]
 * ```
 */
export function dequantize(
  codes: tf.Tensor,
  alpha: tf.Tensor,
  beta: tf.Tensor,
  layout: GroupLayout,
  shape: readonly number[] = codes.shape,
): tf.Tensor {
  return dequantizeOp(codes, alpha, beta, layout, shape);
}

const dequantizeOp = fusedOp({
  name: MESA_KERNELS.dequantize,
  group: "mesa",
  kernel: () => dequantizeKernel,
  accepts: (codes: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor) => codes.dtype === "bool" && floats(alpha, beta),
  fused: (run, codes: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor, layout: GroupLayout, shape: readonly number[]) =>
    run<tf.Tensor>({ codes, alpha, beta }, { ...layoutAttrs(layout), shape: shape.slice() }),
  stock: (codes: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor, layout: GroupLayout, shape: readonly number[]) =>
    tf.tidy(() => {
      const g = layout.groups;
      const c = codes.dtype === "bool" ? unpackBytes(codes, "float32") : codes.cast("float32");
      const step = tf.div(tf.add(col(alpha, g), RANGE_EPS), LEVELS - 1); // Δ per group
      const x3 = tf.add(tf.mul(c.reshape(layout.shape3 as [number, number, number]), step), col(beta, g));
      return x3.reshape(shape as number[]);
    }),
});
