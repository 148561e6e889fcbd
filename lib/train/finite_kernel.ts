/**
 * The guard's "all finite" check as one fused op, `MemtrainFirstNonFinite` `{x0, x1, …}` -> an int32 scalar: the
 * index of the first input holding a NaN or an infinity, or −1. Inputs that are not float32 or are empty are
 * skipped (never named). One kernel reads every tensor's buffer on the wasm heap, so a check is one dispatch and
 * one 4-byte download; the stock fallback sums each tensor (one download of the stacked sums) and confirms a
 * non-finite sum with `sum(x·0)`, NaN exactly when some element is not finite (a finite sum can overflow).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../backend/registry.ts";
import { f32, i32, type KernelArgs, wasmOf } from "../backend/heap.ts";

/** The kernel name (backend "wasm"). */
export const FIRST_NON_FINITE_KERNEL = "MemtrainFirstNonFinite";

/** Whether the guard checks this tensor at all (float32 and not empty). */
function checked(t: tf.TensorInfo): boolean {
  return t.dtype === "float32" && t.shape.every((d) => d > 0);
}

/** The index of the first view with a non-finite element, or −1 (`x·0` is ±0 for finite x, NaN otherwise). */
function firstBad(views: readonly (Float32Array | null)[]): number {
  for (let k = 0; k < views.length; k++) {
    const a = views[k];
    if (a === null) continue;
    let z = 0;
    for (let i = 0; i < a.length; i++) z += a[i] * 0;
    if (z !== z) return k;
  }
  return -1;
}

function kernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { n } = args.attrs as unknown as { n: number };
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const out = be.makeOutput([], "int32");
  // Views after the allocation (makeOutput may grow the heap).
  const views: (Float32Array | null)[] = [];
  for (let k = 0; k < n; k++) {
    const t = inputs[`x${k}`];
    if (t === undefined) throw new TypeError(`${FIRST_NON_FINITE_KERNEL}: input 'x${k}' is required (n = ${n})`);
    views.push(checked(t) ? f32(be, t) : null);
  }
  i32(be, out)[0] = firstBad(views);
  return out;
}

function stock(tensors: readonly tf.Tensor[]): number {
  const idx = tensors.map((_, i) => i).filter((i) => checked(tensors[i]));
  if (idx.length === 0) return -1;
  const sums = tf.tidy(() => tf.stack(idx.map((i) => tf.sum(tensors[i]))).dataSync());
  for (let j = 0; j < idx.length; j++) {
    if (Number.isFinite(sums[j])) continue;
    const t = tensors[idx[j]];
    const exact = tf.tidy(() => tf.sum(tf.mul(t, 0)).dataSync()[0]);
    if (!Number.isFinite(exact)) return idx[j];
  }
  return -1;
}

/**
 * The index in `tensors` of the first one holding a NaN or an infinity, or −1; tensors that are not float32 or are
 * empty are skipped. Fused on wasm/blas (one kernel, one 4-byte download), stock tfjs ops elsewhere; both give the
 * same index.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { firstNonFiniteIndex } from "./finite_kernel.ts";
 * import assert from "node:assert/strict";
 *
 * const ts = [tf.tensor1d([1, 2]), tf.tensor1d([3, Infinity]), tf.tensor1d([NaN])];
 * assert.equal(firstNonFiniteIndex(ts), 1);
 * assert.equal(firstNonFiniteIndex(ts.slice(0, 1)), -1);
 * tf.dispose(ts);
 * ```
 */
export const firstNonFiniteIndex = fusedOp({
  name: FIRST_NON_FINITE_KERNEL,
  group: "guard",
  kernel: () => kernel as unknown as tf.KernelFunc,
  fused: (run, tensors: readonly tf.Tensor[]): number => {
    const inputs: Record<string, tf.Tensor> = {};
    tensors.forEach((t, k) => inputs[`x${k}`] = t);
    const r = run<tf.Tensor>(inputs, { n: tensors.length });
    const v = r.dataSync()[0];
    r.dispose();
    return v;
  },
  stock,
  accepts: (tensors: readonly tf.Tensor[]) => tensors.length > 0,
});
