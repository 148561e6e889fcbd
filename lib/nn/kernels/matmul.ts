/**
 * The layers' matrix products and column sums: {@linkcode linear} (one BLAS `_FusedMatMul` on blas),
 * {@linkcode matMulLater} / {@linkcode columnSumLater} (deferred to a GEMM worker when the pool runs), and the fused
 * op `MemtrainColumnSum` `{x [N, C]}` -> `[C]` (one `cblas_sgemv` on blas, else the product `ones[1, N]·x`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedActive, fusedOp, runFused } from "../../backend/registry.ts";
import { checkDtype, f32, type KernelArgs, wasmOf } from "../../backend/heap.ts";
import { blasColumnSum, DEFERRED_MATMUL, deferredMatMulActive, isBlasPatched } from "../../backend/blas_patch.ts";

/** Kernel names (backend "wasm"). */
export const MATMUL_KERNELS = { columnSum: "MemtrainColumnSum" } as const;

/** Column sums as one `cblas_sgemv` on blas, else one matrix product `ones[1, N]·x` (XNNPACK): 3-5x faster than JS. */
function columnSumKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo;
  checkDtype(MATMUL_KERNELS.columnSum, { x });
  if (x.shape.length !== 2) {
    throw new TypeError(`${MATMUL_KERNELS.columnSum}: expected a 2-D input: current shape is [${x.shape}]`);
  }
  const viaBlas = blasColumnSum(args);
  if (viaBlas) return viaBlas;
  const [n, c] = x.shape;
  if (n === 0) {
    const out = be.makeOutput([c], "float32");
    f32(be, out).fill(0);
    return out;
  }
  const ones = be.makeOutput([1, n], "float32");
  f32(be, ones).fill(1);
  const matMul = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc; // whatever is registered now
  const attrs = { transposeA: false, transposeB: false };
  const out = matMul({ inputs: { a: ones, b: x }, attrs, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(ones.dataId);
  return { dataId: out.dataId, shape: [c], dtype: "float32" };
}

/** The sum over the rows of `x2 [N, C]` -> `[C]`. */
export const columnSum = fusedOp({
  name: MATMUL_KERNELS.columnSum,
  group: "nn",
  kernel: () => columnSumKernel,
  fused: (run, x2: tf.Tensor) => run<tf.Tensor>({ x: x2 }),
  stock: (x2: tf.Tensor) => tf.sum(x2, 0),
});

/**
 * `x2·w + b` for `x2 [N, in]`, `w [in, out]`, `b [out]` (or no bias). On blas with the layers' fused kernels on, one
 * `_FusedMatMul` kernel (the bias is BLAS's initial C), run directly: `tf.fused.matMul` would add a customGrad wrapper
 * that is pointless without a tape. Stock wasm `_FusedMatMul` is not used (it is wrong with transposeB + bias).
 */
export function linear(x2: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor2D {
  if (b && fusedActive("nn") && isBlasPatched()) {
    const attrs = { transposeA: false, transposeB: false, activation: "linear" };
    return runFused<tf.Tensor2D>("_FusedMatMul", { a: x2, b: w, bias: b }, attrs);
  }
  const y = tf.matMul(x2, w) as tf.Tensor2D;
  if (!b) return y;
  const out = tf.add(y, b) as tf.Tensor2D;
  y.dispose();
  return out;
}

/**
 * `op(a)·op(b)` whose result is not needed right away (weight gradients): on blas with the GEMM worker pool a worker
 * computes it while this thread goes on (reads of the result wait for it); elsewhere `tf.matMul`.
 */
export function matMulLater(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (deferredMatMulActive()) return runFused(DEFERRED_MATMUL, { a, b }, { transposeA, transposeB });
  return tf.matMul(a, b, transposeA, transposeB);
}

/** {@linkcode columnSum} for results not needed right away (bias gradients): deferred like {@linkcode matMulLater}. */
export function columnSumLater(x2: tf.Tensor): tf.Tensor {
  if (!deferredMatMulActive() || x2.rank !== 2) return columnSum(x2);
  return tf.tidy(() => {
    const ones = tf.ones([1, x2.shape[0]]); // [1, N]
    const attrs = { transposeA: false, transposeB: false };
    return runFused<tf.Tensor>(DEFERRED_MATMUL, { a: ones, b: x2 }, attrs).reshape([x2.shape[1]!]); // [C]
  });
}
