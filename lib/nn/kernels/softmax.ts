/**
 * The attention softmax as fused ops, with their stock tfjs ops:
 * - `MemtrainScaledSoftmax` `{x [..., Tq, Tk]}`, attrs `{scale, causal}` -> `softmax(x·scale + causal mask)` over
 *   the last axis (the mask of `causal_mask.ts`; `Tq <= Tk` when causal);
 * - `MemtrainSoftmaxGrad` `{p, dp}`, attrs `{scale}` -> `scale·p·(dp − Σ dp·p)` over the last axis.
 *
 * SIMD loops (`softmax_simd.ts`) when the last axis is a multiple of 4, else JS loops; the exponentials are the
 * backend's own SIMD `Softmax` kernel.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import {
  checkDtype,
  checkSameSize,
  f32,
  heapOffset as ptr,
  type KernelArgs,
  rowsOf,
  sizeOf,
  stockKernel,
  wasmOf,
} from "../../backend/heap.ts";
import { causalMaskValues, checkCausalShape, lastVisibleKey, MASKED } from "./causal_mask.ts";
import { softmaxSimd } from "./softmax_simd.ts";

/** Kernel names (backend "wasm"). */
export const SOFTMAX_KERNELS = { scaledSoftmax: "MemtrainScaledSoftmax", softmaxGrad: "MemtrainSoftmaxGrad" } as const;

function scaledSoftmaxKernel(args: KernelArgs, softmax: tf.KernelFunc): tf.TensorInfo {
  const K = SOFTMAX_KERNELS.scaledSoftmax;
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo;
  const { causal } = args.attrs as unknown as { causal: boolean };
  const scale = Math.fround((args.attrs as unknown as { scale: number }).scale); // stock: a float32 scalar
  checkDtype(K, { x });
  const r = x.shape.length, s = x.shape[r - 1], t = x.shape[r - 2];
  if (r < 2 || (causal && !(t >= 1 && t <= s))) {
    throw new TypeError(`${K}: expected [..., Tq, Tk] scores with Tq <= Tk: current shape is [${x.shape}]`);
  }
  const z = be.makeOutput(x.shape.slice(), "float32");
  const rows = sizeOf(x.shape) / s;
  const sk = s % 4 === 0 ? softmaxSimd(be) : null;
  if (sk) {
    sk.scaleMask(ptr(be, x), ptr(be, z), rows, t, s / 4, scale, causal ? 1 : 0);
  } else {
    const xv = f32(be, x), zv = f32(be, z);
    for (let row = 0, o = 0; row < rows; row++, o += s) {
      const last = causal ? lastVisibleKey(row % t, t, s) : s - 1; // last unmasked column
      for (let j = 0; j <= last; j++) zv[o + j] = xv[o + j] * scale;
      for (let j = last + 1; j < s; j++) zv[o + j] = Math.fround(xv[o + j] * scale) + MASKED;
    }
  }
  const p = softmax({ inputs: { logits: z }, attrs: { dim: r - 1 }, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(z.dataId);
  return p;
}

function softmaxGradKernel(args: KernelArgs): tf.TensorInfo {
  const K = SOFTMAX_KERNELS.softmaxGrad;
  const be = wasmOf(args);
  const { p, dp } = args.inputs as Record<string, tf.TensorInfo>;
  const { scale } = args.attrs as unknown as { scale: number };
  checkDtype(K, { p, dp });
  checkSameSize(K, p, dp, "p and dp");
  const [rows, s] = rowsOf(K, dp);
  const ds = be.makeOutput(dp.shape.slice(), "float32");
  const sk = s % 4 === 0 ? softmaxSimd(be) : null;
  if (sk) {
    sk.softmaxGrad(ptr(be, p), ptr(be, dp), ptr(be, ds), rows, s / 4, scale);
    return ds;
  }
  const pv = f32(be, p), dpv = f32(be, dp), dsv = f32(be, ds);
  for (let row = 0, o = 0; row < rows; row++, o += s) {
    let dot = 0;
    for (let j = 0; j < s; j++) dot += dpv[o + j] * pv[o + j];
    const d32 = Math.fround(dot);
    for (let j = 0; j < s; j++) dsv[o + j] = scale * pv[o + j] * (dpv[o + j] - d32);
  }
  return ds;
}

const scaledSoftmax = fusedOp({
  name: SOFTMAX_KERNELS.scaledSoftmax,
  group: "nn",
  kernel: () => {
    const softmax = stockKernel("Softmax");
    return (args) => scaledSoftmaxKernel(args, softmax);
  },
  fused: (run, scores: tf.Tensor, scale: number, causal: boolean) => run<tf.Tensor>({ x: scores }, { scale, causal }),
  stock: (scores: tf.Tensor, scale: number, causal: boolean) =>
    tf.tidy(() => {
      let s = tf.mul(scores, scale);
      if (causal) {
        const [tq, tk] = scores.shape.slice(-2);
        s = tf.add(s, tf.tensor2d(causalMaskValues(tq, tk), [tq, tk])); // [Tq, Tk] additive mask
      }
      return tf.softmax(s);
    }),
});

/**
 * Attention probabilities `softmax(scores·scale + mask)` over the last axis of `scores [..., Tq, Tk]`; with `causal`,
 * query row `i` sees the keys `j <= i + (Tk − Tq)` (`causal_mask.ts`; square scores: the lower triangle).
 * @throws {RangeError} when `causal` and not `1 <= Tq <= Tk`.
 */
export function attentionProbs(scores: tf.Tensor, scale: number, causal: boolean): tf.Tensor {
  if (causal) checkCausalShape("attentionProbs", scores.shape[scores.rank - 2], scores.shape[scores.rank - 1]);
  return scaledSoftmax(scores, scale, causal);
}

/** Softmax backward with the score scale: `scale·p·(dp − Σ_last dp·p)`. */
export const softmaxGrad = fusedOp({
  name: SOFTMAX_KERNELS.softmaxGrad,
  group: "nn",
  kernel: () => softmaxGradKernel,
  fused: (run, p: tf.Tensor, dp: tf.Tensor, scale: number) => run<tf.Tensor>({ p, dp }, { scale }),
  stock: (p: tf.Tensor, dp: tf.Tensor, scale: number) =>
    tf.tidy(() => tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale)),
});
