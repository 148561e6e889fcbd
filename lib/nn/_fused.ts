/**
 * Private: the layers' elementwise and layout work, each as one function with two implementations.
 *
 * - Fused: one memtrain kernel (`lib/backend/fused.ts`) when {@linkcode fusedKernelsActive} (wasm or blas backend,
 *   no gradient tape recording, not disabled with `MEMTRAIN_FUSED=0`).
 * - Stock: the plain tfjs ops the layers always used, everywhere else. Under `tf.grads` / `tf.valueAndGrads` the
 *   tape is on, so a layer's forward runs these differentiable ops and tfjs autodiff stays an independent oracle for
 *   the explicit backward (tests/_util/grad_check.ts); the fused kernels have no tfjs gradients on purpose.
 *
 * Both implementations return the same values within float32 rounding (tests/nn/fused_test.ts), and nothing here
 * changes what the layers save for backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { FUSED_KERNELS as K, fusedKernelsActive, runFused } from "../backend/fused.ts";
import { DEFERRED_MATMUL, deferredMatMulActive, isBlasPatched } from "../backend/blas_patch.ts";

const C_GELU = Math.sqrt(2 / Math.PI);
const A_GELU = 0.044715;

/** `gelu(x) = 0.5·x·(1 + tanh(c·(x + 0.044715·x³)))`, elementwise. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedKernelsActive()) return runFused(K.gelu, { x });
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), A_GELU)), C_GELU);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** `dy·gelu'(x)`; `x` may be any shape with `dy`'s size (the result has `dy`'s shape). */
export function geluGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (fusedKernelsActive()) return runFused(K.geluGrad, { x, dy });
  return tf.tidy(() => {
    const xs = x.reshape(dy.shape);
    const x2 = tf.mul(xs, xs);
    const t = tf.tanh(tf.mul(tf.mul(xs, tf.add(tf.mul(x2, A_GELU), 1)), C_GELU));
    const dinner = tf.mul(tf.add(tf.mul(x2, 3 * A_GELU), 1), C_GELU);
    const d = tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(xs, 0.5), tf.sub(1, tf.mul(t, t))), dinner));
    return tf.mul(dy, d);
  });
}

/** LayerNorm of the rows of `x2 [N, D]`: `y = (x − mean)·rstd·g + b`, with `mean`, `rstd` `[N, 1]`. */
export function layerNorm(
  x2: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
  eps: number,
): { y: tf.Tensor; mean: tf.Tensor; rstd: tf.Tensor } {
  if (fusedKernelsActive()) {
    const [y, mean, rstd] = runFused<tf.Tensor[]>(K.layerNorm, { x: x2, g, b }, { eps });
    return { y, mean, rstd };
  }
  return tf.tidy(() => {
    const mean = x2.mean(1, true); // [N, 1]
    const xc = tf.sub(x2, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), 1, true), eps)); // [N, 1]
    const y = tf.add(tf.mul(tf.mul(xc, rstd), g), b);
    return { y, mean, rstd };
  });
}

/** LayerNorm backward: `dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·g`; `dg = Σ dy·x̂`, `db = Σ dy`. */
export function layerNormGrad(
  dy2: tf.Tensor,
  x2: tf.Tensor,
  mean: tf.Tensor,
  rstd: tf.Tensor,
  g: tf.Tensor,
): { dx: tf.Tensor; dg: tf.Tensor; db: tf.Tensor } {
  if (fusedKernelsActive()) {
    const [dx, dg, db] = runFused<tf.Tensor[]>(K.layerNormGrad, { dy: dy2, x: x2, mean, rstd, g });
    return { dx, dg, db };
  }
  return tf.tidy(() => {
    const xhat = tf.mul(tf.sub(x2, mean), rstd);
    const dg = tf.sum(tf.mul(dy2, xhat), 0);
    const db = tf.sum(dy2, 0);
    const dxhat = tf.mul(dy2, g);
    const m1 = tf.mean(dxhat, 1, true);
    const m2 = tf.mean(tf.mul(dxhat, xhat), 1, true);
    const dx = tf.mul(rstd, tf.sub(tf.sub(dxhat, m1), tf.mul(xhat, m2)));
    return { dx, dg, db };
  });
}

/** `[Tq, Tk]` additive mask aligned at the bottom right: 0 where key j <= query i + (Tk − Tq), -1e9 elsewhere. */
function causalBias(tq: number, tk: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([tq, tk]), -1, tk - tq)), -1e9) as tf.Tensor2D);
}

/** Attention probabilities `softmax(scores·scale + mask)` over the last axis of `scores [..., T, T]`. */
export function attentionProbs(scores: tf.Tensor, scale: number, causal: boolean): tf.Tensor {
  if (fusedKernelsActive()) return runFused(K.scaledSoftmax, { x: scores }, { scale, causal });
  return tf.tidy(() => {
    let s = tf.mul(scores, scale);
    if (causal) s = tf.add(s, causalBias(scores.shape[scores.rank - 2], scores.shape[scores.rank - 1]));
    return tf.softmax(s);
  });
}

/** Softmax backward with the score scale: `scale·p·(dp − Σ_last dp·p)`. */
export function softmaxGrad(p: tf.Tensor, dp: tf.Tensor, scale: number): tf.Tensor {
  if (fusedKernelsActive()) return runFused(K.softmaxGrad, { p, dp }, { scale });
  return tf.tidy(() => tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale));
}

/** `x [B, T, P·H·dh]` -> P tensors `[B, H, T, dh]` (P = `parts`: 3 for a fused q/k/v projection). */
export function splitHeads(x: tf.Tensor, heads: number, parts: number): tf.Tensor4D[] {
  const [b, t, w] = x.shape;
  if (fusedKernelsActive()) return runFused(K.splitHeads, { x }, { heads, parts });
  return tf.tidy(() => {
    const all = x.reshape([b, t, parts * heads, w / (parts * heads)]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
    return parts === 1 ? [all] : tf.split(all, parts, 1) as tf.Tensor4D[];
  });
}

/** The inverse of {@linkcode splitHeads}: P tensors `[B, H, T, dh]` (or `[B·H, T, dh]`) -> `[B, T, P·H·dh]`. */
export function mergeHeads(xs: tf.Tensor[], batch: number, heads: number): tf.Tensor3D {
  if (fusedKernelsActive()) {
    const inputs: Record<string, tf.Tensor> = {};
    xs.forEach((x, i) => (inputs[`x${i}`] = x));
    return runFused(K.mergeHeads, inputs, { batch, heads });
  }
  const [t, dh] = xs[0].shape.slice(-2);
  return tf.tidy(() => {
    const four = xs.map((x) => x.reshape([batch, heads, t, dh]));
    const all = four.length === 1 ? four[0] : tf.concat(four, 1);
    return all.transpose([0, 2, 1, 3]).reshape([batch, t, xs.length * heads * dh]) as tf.Tensor3D;
  });
}

/**
 * `x2·w + b` for `x2 [N, in]`, `w [in, out]`, `b [out]` (or no bias). On blas with fused kernels on, one `_FusedMatMul`
 * kernel (the bias is BLAS's initial C), run directly: `tf.fused.matMul` would add a customGrad wrapper that is
 * pointless without a tape. Stock wasm `_FusedMatMul` is not used (it is wrong with transposeB + bias).
 */
export function linear(x2: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor2D {
  if (b && fusedKernelsActive() && isBlasPatched()) {
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

/** The sum over the rows of `x2 [N, C]` -> `[C]`. */
export function columnSum(x2: tf.Tensor): tf.Tensor {
  if (fusedKernelsActive()) return runFused(K.columnSum, { x: x2 });
  return tf.sum(x2, 0);
}

/** `wte[ids] + wpe[0:t]` broadcast over the batch: `ids [B·T]` (int32) -> `[B·T, D]`. */
export function embed(wte: tf.Tensor, wpe: tf.Tensor, ids: tf.Tensor, t: number): tf.Tensor {
  const d = wte.shape[1] as number;
  if (fusedKernelsActive()) return runFused(K.embed, { wte, wpe, ids }, { t });
  return tf.tidy(() => {
    const tok = tf.gather(wte, ids).reshape([-1, t, d]); // [B, T, D]
    const pos = wpe.slice([0, 0], [t, d]); // [T, D]
    return tf.add(tok, pos).reshape([-1, d]);
  });
}

/** Softmax cross-entropy per row of `z [N, C]` against int32 `t [N]`: the probabilities and `nll [N]`. */
export function softmaxXent(z: tf.Tensor, t: tf.Tensor): { probs: tf.Tensor; nll: tf.Tensor } {
  if (fusedKernelsActive()) {
    const [probs, nll] = runFused<tf.Tensor[]>(K.softmaxXent, { z, t });
    return { probs, nll };
  }
  return tf.tidy(() => {
    const logp = tf.logSoftmax(z);
    const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(t as tf.Tensor1D, z.shape[1] as number)), 1)); // [N]
    return { probs: tf.exp(logp), nll };
  });
}

/** `(probs − onehot(t))·dloss / n` for `probs [n, C]`, int32 `t [n]` (the unweighted mean cross-entropy gradient). */
export function softmaxXentGrad(probs: tf.Tensor, t: tf.Tensor, dloss: number): tf.Tensor {
  const [n, c] = probs.shape;
  if (fusedKernelsActive()) return runFused(K.softmaxXentGrad, { probs, t }, { scale: dloss / n });
  return tf.tidy(() => {
    const g = tf.div(tf.sub(probs, tf.oneHot(t as tf.Tensor1D, c)), n);
    return dloss === 1 ? g : tf.mul(g, dloss);
  });
}
