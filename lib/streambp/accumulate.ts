/**
 * Gradient accumulation over chunks without a third copy. Each chunk's backward produces fresh parameter gradients;
 * adding them to the running sums with `tf.add` holds the old sum, the chunk's gradient and the new sum at once (3×
 * a parameter's size, which for the LM head's `[D, vocab]` weight is the largest transient of the whole step). The
 * fused op `MemtrainStreamAccumulate` `{acc, g}` adds `g` into `acc`'s own buffer instead (2×) when `acc` holds the
 * only reference to it, and returns a tensor sharing that buffer; the stock op is `tf.add`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../backend/registry.ts";
import { checkDtype, checkSameSize, f32, type KernelArgs, wasmOf } from "../backend/heap.ts";
import { CBLAS, loadBlas } from "../backend/blas.ts";
import { blasPatchInfo, isBlasPatched } from "../backend/blas_patch.ts";
import { Context, type SavedStore } from "../nn/context.ts";
import type { Grads } from "../nn/params.ts";

/** The kernel name (backend "wasm"). */
export const ACCUMULATE_KERNEL = "MemtrainStreamAccumulate";

interface RefCounted {
  dataIdMap: { get(dataId: unknown): { refCount: number } | undefined };
  incRef(dataId: unknown): void;
}

function accumulateKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { acc, g } = args.inputs as Record<string, tf.TensorInfo>;
  checkDtype(ACCUMULATE_KERNEL, { acc, g });
  checkSameSize(ACCUMULATE_KERNEL, acc, g, "acc and g");
  const shared = ((be as unknown as RefCounted).dataIdMap.get(acc.dataId)?.refCount ?? 0) !== 1;
  const out = shared ? be.makeOutput(acc.shape.slice(), "float32") : acc;
  const a = f32(be, acc), b = f32(be, g), o = f32(be, out); // views after the allocation
  for (let i = 0; i < o.length; i++) o[i] = a[i] + b[i];
  if (shared) return out;
  (be as unknown as RefCounted).incRef(acc.dataId); // the result shares acc's buffer, like Identity
  return { dataId: acc.dataId, shape: acc.shape.slice(), dtype: "float32" };
}

const accumulateOp = fusedOp({
  name: ACCUMULATE_KERNEL,
  group: "streambp",
  kernel: () => accumulateKernel,
  fused: (run, acc: tf.Tensor, g: tf.Tensor) => run<tf.Tensor>({ acc, g }),
  stock: (acc: tf.Tensor, g: tf.Tensor) => tf.add(acc, g),
  accepts: (acc: tf.Tensor, g: tf.Tensor) =>
    acc.dtype === "float32" && g.dtype === "float32" && acc.shape.join(",") === g.shape.join(","),
});

/**
 * `acc + g`, consuming `acc`: the caller must not use `acc` afterwards (dispose it; on wasm/blas the sum may be
 * written into its buffer, which the result then shares). Not for use under a gradient tape.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { accumulate } from "./accumulate.ts";
 * import assert from "node:assert/strict";
 *
 * let acc: tf.Tensor = tf.tensor1d([1, 2]);
 * const g = tf.tensor1d([10, 20]);
 * const next = accumulate(acc, g);
 * acc.dispose();
 * acc = next;
 * assert.deepEqual(Array.from(acc.dataSync()), [11, 22]);
 * tf.dispose([acc, g]);
 * ```
 */
export function accumulate(acc: tf.Tensor, g: tf.Tensor): tf.Tensor {
  return accumulateOp(acc, g);
}

/**
 * A view of `ctx` that saves into `store` and accumulates parameter gradients into a fresh map (the chunk's own),
 * to be added to the running sums with {@linkcode mergeGrads}.
 *
 * @example Usage
 * ```ts ignore
 * const { ctx: cctx, grads } = chunkContext(ctx, store);
 * layer.forward(x, cctx); layer.backward(dy, cctx);
 * mergeGrads(ctx.grads, grads);
 * ```
 */
export function chunkContext(ctx: Context, store: SavedStore): { ctx: Context; grads: Grads } {
  const grads: Grads = {};
  const view = new Context({
    params: ctx.provider,
    store,
    selector: ctx.selector,
    grads,
    path: ctx.path,
    training: ctx.training,
    key: ctx.key,
  });
  return { ctx: view, grads };
}

/**
 * Adds every gradient of `from` into `into` (taking it over when `into` has none yet) with {@linkcode accumulate};
 * consumes `from`'s tensors.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mergeGrads } from "./accumulate.ts";
 * import assert from "node:assert/strict";
 *
 * const into: Record<string, tf.Tensor> = { w: tf.tensor1d([1]) };
 * mergeGrads(into, { w: tf.tensor1d([2]), b: tf.tensor1d([3]) });
 * assert.deepEqual([into.w.dataSync()[0], into.b.dataSync()[0]], [3, 3]);
 * tf.dispose(Object.values(into));
 * ```
 */
export function mergeGrads(into: Grads, from: Grads): void {
  for (const [k, g] of Object.entries(from)) {
    const old = into[k];
    if (!old) {
      into[k] = g;
      continue;
    }
    into[k] = tf.keep(accumulate(old, g));
    old.dispose();
    g.dispose();
  }
}

/** The kernel name of {@linkcode matMulAccumulate} (backend "wasm", with the blas patch). */
export const MATMUL_ACCUMULATE_KERNEL = "MemtrainStreamMatMulAccumulate";

type MatMulAttrs = { transposeA: boolean; transposeB: boolean };

function matMulAccumulateKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const { acc, a, b } = args.inputs as Record<string, tf.TensorInfo>;
  const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
  checkDtype(MATMUL_ACCUMULATE_KERNEL, { acc, a, b });
  const m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1];
  const n = transposeB ? b.shape[0] : b.shape[1], kb = transposeB ? b.shape[1] : b.shape[0];
  if (a.shape.length !== 2 || b.shape.length !== 2 || k !== kb || acc.shape.join() !== `${m},${n}`) {
    throw new TypeError(
      `${MATMUL_ACCUMULATE_KERNEL}: acc [${acc.shape}] += op(a [${a.shape}])·op(b [${b.shape}]) does not fit`,
    );
  }
  const info = blasPatchInfo();
  if (!info) throw new Error(`${MATMUL_ACCUMULATE_KERNEL}: needs the blas backend`);
  const lib = loadBlas(info.path); // the patch's own (cached) library handle
  const shared = ((be as unknown as RefCounted).dataIdMap.get(acc.dataId)?.refCount ?? 0) !== 1;
  const out = shared ? be.makeOutput([m, n], "float32") : acc;
  const av = f32(be, a), bv = f32(be, b), cv = f32(be, out); // views after the allocation (and after pending GEMMs)
  if (shared) cv.set(f32(be, acc));
  lib.rawSgemm(
    CBLAS.RowMajor,
    transposeA ? CBLAS.Trans : CBLAS.NoTrans,
    transposeB ? CBLAS.Trans : CBLAS.NoTrans,
    m,
    n,
    k,
    1,
    av,
    transposeA ? m : k,
    bv,
    transposeB ? k : n,
    1, // beta = 1: C += A·B in place
    cv,
    n,
  );
  if (shared) return out;
  (be as unknown as RefCounted).incRef(acc.dataId);
  return { dataId: acc.dataId, shape: [m, n], dtype: "float32" };
}

const matMulAccumulateOp = fusedOp({
  name: MATMUL_ACCUMULATE_KERNEL,
  group: "streambp",
  kernel: () => matMulAccumulateKernel,
  fused: (run, acc: tf.Tensor, a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) =>
    run<tf.Tensor>({ acc, a, b }, { transposeA, transposeB }),
  stock: (acc: tf.Tensor, a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) => {
    const g = tf.matMul(a, b, transposeA, transposeB);
    try {
      return accumulate(acc, g);
    } finally {
      g.dispose();
    }
  },
  accepts: (acc, a, b) =>
    isBlasPatched() && acc.rank === 2 && a.rank === 2 && b.rank === 2 &&
    [acc, a, b].every((t) => t.dtype === "float32"),
});

/**
 * `acc + op(a)·op(b)` for 2-D tensors, consuming `acc` like {@linkcode accumulate}. On blas it is one `cblas_sgemm`
 * with `beta = 1` into `acc`'s own buffer (when nothing shares it), so neither the product nor a new sum is ever
 * allocated: the LM head's `[D, vocab]` weight gradient, summed over the chunks, then costs one buffer instead of
 * three. Elsewhere, the product followed by {@linkcode accumulate}. Not for use under a gradient tape.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { matMulAccumulate } from "./accumulate.ts";
 * import assert from "node:assert/strict";
 *
 * const acc = tf.ones([2, 2]), x = tf.tensor2d([[1, 2], [3, 4]]), dy = tf.eye(2);
 * const sum = matMulAccumulate(acc, x, dy, true, false); // acc + xᵀ·dy
 * acc.dispose();
 * assert.deepEqual(Array.from(sum.dataSync()), [2, 4, 3, 5]);
 * tf.dispose([sum, x, dy]);
 * ```
 */
export function matMulAccumulate(
  acc: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA = false,
  transposeB = false,
): tf.Tensor {
  return matMulAccumulateOp(acc, a, b, transposeA, transposeB);
}
