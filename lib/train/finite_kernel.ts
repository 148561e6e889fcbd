/**
 * The guard's "all finite" check as one fused op, `MemtrainFirstNonFinite` `{x0, x1, …}` -> an int32 scalar: the
 * index of the first input holding a NaN or an infinity, or −1. Inputs that are not float32 or are empty are skipped
 * (never named). One kernel reads every tensor's buffer on the wasm heap (SIMD sums of `x·0`, JS for the tail or
 * without SIMD), so a check is one dispatch and one 4-byte download. The stock fallback sums each tensor (one
 * download of the stacked sums) and confirms a non-finite sum with `sum(x·0)`, NaN exactly when some element is not
 * finite (a sum of finite numbers can overflow).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../backend/registry.ts";
import { f32, heapOffset as ptr, i32, type KernelArgs, simdLoops, wasmOf } from "../backend/heap.ts";
import { Fn, forLoop, I, I32, V128 } from "../backend/wasm_asm.ts";

/** The kernel name (backend "wasm"). */
export const FIRST_NON_FINITE_KERNEL = "MemtrainFirstNonFinite";

/** Whether the guard checks this tensor at all (float32 and not empty). */
function checked(t: tf.TensorInfo): boolean {
  return t.dtype === "float32" && t.shape.every((d) => d > 0);
}

/**
 * nonFinite(x, n16, out): stores at `out` the f32x4 sum of `v·0` over the `n16` blocks of 16 floats at `x` (a lane is
 * NaN exactly when some element summed into it is not finite: `v·0` is ±0 for finite `v`). Four independent sums, so
 * the loop is not bound by the latency of one chain of adds.
 */
function nonFiniteFn(): Fn {
  const f = new Fn("nonFinite", [I32, I32, I32]);
  const [x, n16, out] = [0, 1, 2];
  const i = f.local(I32), p = f.local(I32);
  const acc = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  for (const a of acc) f.emit(I.get(f.constant(0)), I.set(a));
  forLoop(f, i, n16, () => {
    // p = x + 64·i, the block's address
    f.emit(I.get(x), I.get(i), I.i32(6), I.i32Shl, I.i32Add, I.set(p));
    acc.forEach((a, j) => f.emit(I.get(p), I.load(16 * j), I.get(f.constant(0)), I.mul, I.get(a), I.add, I.set(a)));
  });
  f.emit(I.get(out), I.get(acc[0]), I.get(acc[1]), I.add, I.get(acc[2]), I.add, I.get(acc[3]), I.add, I.store());
  return f;
}

const nonFiniteSimd = simdLoops<{ nonFinite(x: number, n16: number, out: number): void }>(() => [nonFiniteFn()]);

/** Whether `a[from..]` holds a non-finite element (JS loop, four independent sums). */
function tailBad(a: Float32Array, from: number): boolean {
  let z0 = 0, z1 = 0, z2 = 0, z3 = 0, i = from;
  for (const n = a.length - 3; i < n; i += 4) {
    z0 += a[i] * 0;
    z1 += a[i + 1] * 0;
    z2 += a[i + 2] * 0;
    z3 += a[i + 3] * 0;
  }
  for (; i < a.length; i++) z0 += a[i] * 0;
  const z = z0 + z1 + z2 + z3;
  return z !== z;
}

function kernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { n } = args.attrs as unknown as { n: number };
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const tensors: tf.TensorInfo[] = [];
  for (let k = 0; k < n; k++) {
    const t = inputs[`x${k}`];
    if (t === undefined) throw new TypeError(`${FIRST_NON_FINITE_KERNEL}: input 'x${k}' is required (n = ${n})`);
    tensors.push(t);
  }
  const out = be.makeOutput([], "int32");
  const sk = nonFiniteSimd(be);
  const scratch = sk ? be.makeOutput([4], "float32") : undefined;
  let bad = -1;
  // Views after the allocations (makeOutput may grow the heap).
  for (let k = 0; k < tensors.length; k++) {
    const t = tensors[k];
    if (!checked(t)) continue;
    const a = f32(be, t);
    let from = 0;
    if (sk && scratch) {
      const n16 = a.length >>> 4;
      sk.nonFinite(ptr(be, t), n16, ptr(be, scratch));
      from = 16 * n16;
      if (tailBad(f32(be, scratch), 0)) {
        bad = k;
        break;
      }
    }
    if (tailBad(a, from)) {
      bad = k;
      break;
    }
  }
  if (scratch) be.disposeData(scratch.dataId);
  i32(be, out)[0] = bad;
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
