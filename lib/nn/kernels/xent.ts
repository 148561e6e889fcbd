/**
 * Softmax cross-entropy as fused ops, with their stock tfjs ops:
 * - `MemtrainSoftmaxXent` `{z [N, C], t [N] int32}` -> `[probs [N, C], nll [N]]` (per row);
 * - `MemtrainSoftmaxXentGrad` `{probs [N, C], t [N] int32}`, attrs `{scale}` -> `(probs − onehot(t))·scale`.
 *
 * A target outside `[0, C)` gives an all-zero one-hot row (as `tf.oneHot`): no loss term, no gradient term.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import { checkDtype, f32, i32, type KernelArgs, rowsOf, sizeOf, stockKernel, wasmOf } from "../../backend/heap.ts";

/** Kernel names (backend "wasm"). */
export const XENT_KERNELS = { softmaxXent: "MemtrainSoftmaxXent", softmaxXentGrad: "MemtrainSoftmaxXentGrad" } as const;

/** Below this probability, `−log p` loses accuracy in float32: such rows get an exact float64 log-sum-exp. */
const TINY_PROB = 1e-30;

function softmaxXentKernel(args: KernelArgs, softmax: tf.KernelFunc): tf.TensorInfo[] {
  const K = XENT_KERNELS.softmaxXent;
  const be = wasmOf(args);
  const { z, t } = args.inputs as Record<string, tf.TensorInfo>;
  checkDtype(K, { z });
  const [n, c] = rowsOf(K, z);
  if (t.dtype !== "int32" || sizeOf(t.shape) !== n) {
    throw new TypeError(`${K}: targets must be ${n} int32 values: [${t.shape}] ${t.dtype}`);
  }
  const probs = softmax({ inputs: { logits: z }, attrs: { dim: z.shape.length - 1 }, backend: args.backend });
  const nll = be.makeOutput([n], "float32");
  const pv = f32(be, probs as tf.TensorInfo), zv = f32(be, z), tv = i32(be, t), nv = f32(be, nll);
  for (let r = 0, o = 0; r < n; r++, o += c) {
    const y = tv[r];
    if (!(y >= 0 && y < c)) { // tf.oneHot gives an all-zero row: no loss term, no gradient term
      nv[r] = 0;
      continue;
    }
    const py = pv[o + y];
    if (py > TINY_PROB) {
      nv[r] = -Math.log(py);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, zv[o + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(zv[o + j] - max);
    nv[r] = max + Math.log(s) - zv[o + y];
  }
  return [probs as tf.TensorInfo, nll];
}

function softmaxXentGradKernel(args: KernelArgs): tf.TensorInfo {
  const K = XENT_KERNELS.softmaxXentGrad;
  const be = wasmOf(args);
  const { probs, t } = args.inputs as Record<string, tf.TensorInfo>;
  const { scale } = args.attrs as unknown as { scale: number };
  checkDtype(K, { probs });
  const [n, c] = rowsOf(K, probs);
  if (t.dtype !== "int32" || sizeOf(t.shape) !== n) {
    throw new TypeError(`${K}: targets must be ${n} int32 values: [${t.shape}]`);
  }
  const g = be.makeOutput(probs.shape.slice(), "float32");
  const pv = f32(be, probs), tv = i32(be, t), gv = f32(be, g);
  for (let i = 0; i < pv.length; i++) gv[i] = pv[i] * scale;
  for (let r = 0; r < n; r++) {
    const y = tv[r];
    if (y >= 0 && y < c) gv[r * c + y] = (pv[r * c + y] - 1) * scale;
  }
  return g;
}

const softmaxXentOp = fusedOp({
  name: XENT_KERNELS.softmaxXent,
  group: "nn",
  kernel: () => {
    const softmax = stockKernel("Softmax");
    return ((args: KernelArgs) => softmaxXentKernel(args, softmax)) as unknown as tf.KernelFunc;
  },
  fused: (run, z: tf.Tensor, t: tf.Tensor) => {
    const [probs, nll] = run<tf.Tensor[]>({ z, t });
    return { probs, nll };
  },
  stock: (z: tf.Tensor, t: tf.Tensor) =>
    tf.tidy(() => {
      const logp = tf.logSoftmax(z);
      const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(t as tf.Tensor1D, z.shape[1] as number)), 1)); // [N]
      return { probs: tf.exp(logp), nll };
    }),
});

/** Softmax cross-entropy per row of `z [N, C]` against int32 `t [N]`: the probabilities and `nll [N]`. */
export function softmaxXent(z: tf.Tensor, t: tf.Tensor): { probs: tf.Tensor; nll: tf.Tensor } {
  return softmaxXentOp(z, t);
}

const softmaxXentGradOp = fusedOp({
  name: XENT_KERNELS.softmaxXentGrad,
  group: "nn",
  kernel: () => softmaxXentGradKernel,
  fused: (run, probs: tf.Tensor, t: tf.Tensor, dloss: number) =>
    run<tf.Tensor>({ probs, t }, { scale: dloss / probs.shape[0] }),
  stock: (probs: tf.Tensor, t: tf.Tensor, dloss: number) => {
    const [n, c] = probs.shape;
    return tf.tidy(() => {
      const g = tf.div(tf.sub(probs, tf.oneHot(t as tf.Tensor1D, c)), n);
      return dloss === 1 ? g : tf.mul(g, dloss);
    });
  },
});

/** `(probs − onehot(t))·dloss / n` for `probs [n, C]`, int32 `t [n]` (the unweighted mean cross-entropy gradient). */
export function softmaxXentGrad(probs: tf.Tensor, t: tf.Tensor, dloss: number): tf.Tensor {
  return softmaxXentGradOp(probs, t, dloss);
}
