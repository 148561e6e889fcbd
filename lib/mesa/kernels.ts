/**
 * Mesa's fused wasm kernels for the pack/unpack hot path, registered as ops of the backend's kernel registry by
 * `quantize.ts` (group `"mesa"`, backend "wasm", so also blas). Each replaces a chain of stock tfjs ops with one pass
 * over the tensor on the wasm heap, viewed as `[pre, G, rest]` (a `GroupLayout`):
 * - {@linkcode MESA_KERNELS.minMax}: per-group minimum and maximum.
 * - {@linkcode MESA_KERNELS.quantize}: codes `clamp(trunc((x − β)·(255/(α + ε)) + u), 0, 255)` written straight into a
 *   `bool` tensor (1 byte per element), with the stochastic-rounding noise `u` = `uniformAt` (`noise_hash.ts`)
 *   generated inline, or `u = ½` for round to nearest.
 * - {@linkcode MESA_KERNELS.dequantize}: `bool` codes to float32 `codes·((α + ε)/255) + β`.
 *
 * Every step is a float32 operation in the same order as the stock ops, so the codes and the dequantized values are
 * bit-identical to the stock path (`tests/mesa/kernels_test.ts` compares them exactly). The loops run in a small
 * WebAssembly module on the backend's heap (`simd.ts`); plain JS loops (with `Math.fround`) are the fallback when SIMD
 * is unavailable or off (`setFusedSimd(false)`), and for min/max and dequantize when the group length is not a
 * multiple of 4. Measured per element on blas (4M elements): wasm loops ~0.25 ns min/max, ~1.1 ns quantize with noise
 * (2.2 ns with the sequential xorshift stream used before), ~0.6 ns quantize to nearest, ~0.27 ns dequantize; JS
 * loops ~2-6 ns each; stock op chains ~4 ns min/max, ~9-14 ns quantize + pack, ~1.5 ns dequantize.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { checkDtype, f32, heapOffset as ptr, type KernelArgs, sizeOf, u8, wasmOf } from "../backend/heap.ts";
import type { WasmBackendLike } from "../backend/heap.ts";
import { LEVELS, RANGE_EPS } from "./levels.ts";
import { mixSeed, uniformAt } from "./noise_hash.ts";
import { mesaSimd } from "./simd.ts";
import { mesaSplitter, quantizeRange, SPLIT_MIN_ELEMENTS } from "./split.ts";
import { backendOptions } from "../backend/options.ts";
import { bufferAddress } from "../backend/gemm_pool.ts";

/** The names the Mesa kernels are registered under (backend "wasm"). */
export const MESA_KERNELS = {
  /** `{x}`, attrs `{pre, groups, rest}` -> `[min [G], max [G]]` over the `[pre, G, rest]` view. */
  minMax: "MemtrainMesaMinMax",
  /**
   * `{x, alpha [G], beta [G]}`, attrs `{pre, groups, rest, seed, nearest}` -> bool codes of `x`'s shape (one byte
   * per element).
   */
  quantize: "MemtrainMesaQuantize",
  /** `{codes (bool), alpha [G], beta [G]}`, attrs `{pre, groups, rest, shape}` -> float32 of `shape`. */
  dequantize: "MemtrainMesaDequantize",
} as const;

const TOP = LEVELS - 1;
const EPS32 = Math.fround(RANGE_EPS);

interface Layout3 {
  pre: number;
  groups: number;
  rest: number;
}

function layoutOf(kernel: string, attrs: unknown, n: number): Layout3 {
  const { pre, groups, rest } = attrs as Layout3;
  if (!(pre >= 1 && groups >= 1 && rest >= 0) || pre * groups * rest !== n) {
    throw new TypeError(`${kernel}: layout [${pre}, ${groups}, ${rest}] does not match ${n} elements`);
  }
  return { pre, groups, rest };
}

/** α and β per group as float32 values (copied: the views detach when an output grows the heap). */
function ranges(
  kernel: string,
  be: WasmBackendLike,
  alpha: tf.TensorInfo,
  beta: tf.TensorInfo,
  groups: number,
): [Float32Array, Float32Array] {
  checkDtype(kernel, { alpha, beta });
  if (sizeOf(alpha.shape) !== groups || sizeOf(beta.shape) !== groups) {
    throw new TypeError(`${kernel}: alpha and beta must have ${groups} values: [${alpha.shape}] and [${beta.shape}]`);
  }
  return [f32(be, alpha).slice(), f32(be, beta).slice()];
}

/** The `MemtrainMesaMinMax` kernel. */
export function minMaxKernel(args: KernelArgs): tf.TensorInfo[] {
  const be = wasmOf(args);
  const { x } = args.inputs as Record<string, tf.TensorInfo>;
  checkDtype(MESA_KERNELS.minMax, { x });
  const { pre, groups, rest } = layoutOf(MESA_KERNELS.minMax, args.attrs, sizeOf(x.shape));
  const mn = be.makeOutput([groups], "float32"), mx = be.makeOutput([groups], "float32");
  const sk = mesaSimd(be);
  if (sk && rest > 0 && rest % 4 === 0) {
    sk.mesaMinMax(ptr(be, x), pre, groups, rest >>> 2, ptr(be, mn), ptr(be, mx));
    return [mn, mx];
  }
  const xv = f32(be, x);
  const lo = new Float64Array(groups).fill(Infinity), hi = new Float64Array(groups).fill(-Infinity);
  let o = 0;
  for (let p = 0; p < pre; p++) {
    for (let g = 0; g < groups; g++) {
      let a = lo[g], b = hi[g];
      const end = o + rest;
      for (; o < end; o++) {
        const v = xv[o];
        if (v < a) a = v;
        if (v > b) b = v;
      }
      lo[g] = a;
      hi[g] = b;
    }
  }
  f32(be, mn).set(lo);
  f32(be, mx).set(hi);
  return [mn, mx];
}

/** The `MemtrainMesaQuantize` kernel. */
export function quantizeKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { x, alpha, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const K = MESA_KERNELS.quantize;
  checkDtype(K, { x });
  const { pre, groups, rest } = layoutOf(K, args.attrs, sizeOf(x.shape));
  const { seed, nearest } = args.attrs as unknown as { seed: number; nearest: boolean };
  const [av, bv] = ranges(K, be, alpha, beta, groups);
  const scales = av.map((a) => TOP / Math.fround(a + EPS32)); // Float32Array.map rounds each to float32
  const out = be.makeOutput(x.shape.slice(), "bool");
  const sk = mesaSimd(be);
  if (sk) {
    const key = mixSeed(seed, 0), n = pre * groups * rest;
    const job = { x: ptr(be, x), c: ptr(be, out), pre, groups, rest, alpha: ptr(be, alpha), beta: ptr(be, beta) };
    const q = { ...job, key, nearest: nearest ? 1 : 0 };
    if (backendOptions().mesaSplit && n >= SPLIT_MIN_ELEMENTS) {
      mesaSplitter().quantize(sk, q, bufferAddress(be.wasm.HEAPU8.buffer as ArrayBuffer), n);
    } else {
      quantizeRange(sk, q, 0, n);
    }
    return out;
  }
  const xv = f32(be, x), cv = u8(be, out);
  let o = 0;
  if (nearest) {
    for (let p = 0; p < pre; p++) {
      for (let g = 0; g < groups; g++) {
        const scale = scales[g], b = bv[g], end = o + rest;
        for (; o < end; o++) {
          const r = Math.fround(Math.fround(Math.fround(xv[o] - b) * scale) + 0.5);
          cv[o] = r > TOP ? TOP : r > 0 ? r : 0; // ToUint8 truncates
        }
      }
    }
    return out;
  }
  const key = mixSeed(seed, 0);
  for (let p = 0; p < pre; p++) {
    for (let g = 0; g < groups; g++) {
      const scale = scales[g], b = bv[g], end = o + rest;
      for (; o < end; o++) {
        const r = Math.fround(Math.fround(Math.fround(xv[o] - b) * scale) + uniformAt(key, o));
        cv[o] = r > TOP ? TOP : r > 0 ? r : 0;
      }
    }
  }
  return out;
}

/** The `MemtrainMesaDequantize` kernel. */
export function dequantizeKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { codes, alpha, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const K = MESA_KERNELS.dequantize;
  checkDtype(K, { codes }, "bool");
  const n = sizeOf(codes.shape);
  const { pre, groups, rest } = layoutOf(K, args.attrs, n);
  const shape = ((args.attrs as unknown as { shape?: number[] }).shape ?? codes.shape).slice();
  if (sizeOf(shape) !== n) throw new TypeError(`${K}: shape [${shape}] does not match ${n} codes`);
  const [av, bv] = ranges(K, be, alpha, beta, groups);
  const steps = av.map((a) => Math.fround(a + EPS32) / TOP);
  const out = be.makeOutput(shape, "float32");
  const sk = mesaSimd(be);
  if (sk && rest % 4 === 0) {
    sk.mesaDequantize(ptr(be, codes), ptr(be, out), pre, groups, rest >>> 2, ptr(be, alpha), ptr(be, beta));
    return out;
  }
  const cv = u8(be, codes), yv = f32(be, out);
  let o = 0;
  for (let p = 0; p < pre; p++) {
    for (let g = 0; g < groups; g++) {
      const step = steps[g], b = bv[g], end = o + rest;
      for (; o < end; o++) yv[o] = Math.fround(cv[o] * step) + b;
    }
  }
  return out;
}
