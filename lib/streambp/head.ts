/**
 * The LM head and the cross-entropy streamed along the sequence: logits are computed, used and freed one chunk of
 * positions at a time, so no `[B·T, vocab]` tensor exists; the head's parameter gradients and the gradient of the
 * final hidden state accumulate over the chunks.
 *
 * The loss is normalised once, by a denominator fixed before any chunk runs ({@linkcode lossDenominator}):
 *
 *     loss = Σ_b rowSum[b] / N,   rowSum[b] = Σ_t w[b, t] · nll[b, t],   N = Σ_{b, t} w[b, t]   (weighted)
 *                                                                         N = B · T              (no weights)
 *
 * where `nll[b, t]` is the cross-entropy of the logits at position t against the target `y[b, t]` (a batch's targets
 * are already the next tokens, so a chunk needs no label from the next chunk), and `w` is the batch's loss mask: 0
 * for prompt tokens and padding, 1 (or any weight) for the tokens that are learned. This is what the model's
 * `SoftmaxCrossEntropy` computes on the whole sequence (`Σ w·nll / max(Σ w, 1e-12)`, or the mean), so StreamBP's loss
 * and gradients equal plain backprop's. The original code instead subtracts one position per chunk row from each
 * chunk's count, and divides by a global count that includes the unshifted first positions (its "TODO: check
 * correctness"); here nothing is counted per chunk.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Context, SavedStore } from "../nn/context.ts";
import type { Layer } from "../nn/layer.ts";
import { Linear } from "../nn/linear.ts";
import type { Grads } from "../nn/params.ts";
import { discardAll } from "../nn/policy.ts";
import { Sequence } from "../nn/sequence.ts";
import { columnSumLater, softmaxXent, softmaxXentGrad } from "../nn/_fused.ts";
import { accumulate, chunkContext, matMulAccumulate, mergeGrads } from "./accumulate.ts";
import type { ChunkRange } from "./chunks.ts";

/**
 * The denominator of the sequence loss: `Σ w` over all `B·T` target positions of the loss mask `weights` (prompt
 * and padding positions weigh 0; the float32 sum the whole-sequence loss takes, clamped below at 1e-12 like it);
 * `B·T` without weights.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { lossDenominator } from "./head.ts";
 * import assert from "node:assert/strict";
 *
 * const w = tf.tensor2d([[0, 0, 1, 1], [0, 1, 1, 0]]); // prompt tokens and padding weigh 0
 * assert.equal(lossDenominator([2, 4], w), 4);
 * assert.equal(lossDenominator([2, 4]), 8);
 * ```
 */
export function lossDenominator(targetShape: readonly number[], weights?: tf.Tensor): number {
  if (!weights) return targetShape.reduce((a, b) => a * b, 1);
  return Math.max(tf.tidy(() => tf.sum(weights).dataSync()[0]), 1e-12);
}

/** Options for {@linkcode chunkedLoss}. */
export interface ChunkedLossOptions {
  /** Position chunks covering the sequence (`chunkRanges(T, logitsChunk)`). */
  chunks: readonly ChunkRange[];
  /** Also backpropagate: accumulate the head's gradients into `ctx` and return the hidden state's gradient. */
  backward: boolean;
  /** `N`, what the summed loss is divided by. @default {lossDenominator(targets.shape, weights)} */
  denominator?: number;
  /**
   * Per-row factors `g[b]` of the objective whose gradient is taken: `Σ_b g[b]·rowSum[b] / N`. @default {all 1: the
   * loss itself}. A sequence-level objective (DPO) passes `∂objective/∂rowSum[b]` with `denominator` 1.
   */
  rowScale?: Float64Array;
}

/** What {@linkcode chunkedLoss} returns. */
export interface ChunkedLossResult {
  /** `Σ_b rowSum[b] / N`. */
  loss: number;
  /** `rowSum[b] = Σ_t w[b, t]·nll[b, t]` (minus the log-likelihood of row b's weighted targets). */
  rowSums: Float64Array;
  /** The gradient with respect to the hidden state, `[B, T, D]`, when `backward` (the caller owns it); else null. */
  dHidden: tf.Tensor | null;
}

/**
 * Runs the position-wise `head` (the GPT's `ln_f` + `out`) and the softmax cross-entropy on `hidden [B, T, D]` one
 * chunk of positions at a time, against `targets [B, T]` (int32) and the optional loss mask `weights [B, T]`. Each
 * chunk's logits `[B, c, V]` live only while that chunk runs; the head saves through `ctx`'s selector into a store of
 * the chunk's own, and with `backward` its gradients accumulate into `ctx`.
 *
 * @example The chunked loss equals the whole-sequence loss
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { chunkedLoss } from "./head.ts";
 * import { chunkRanges } from "./chunks.ts";
 * import { Context, discardAll } from "../nn/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 32, layers: 1 });
 * const hidden = tf.randomNormal([2, 8, 64]), y = tf.randomUniform([2, 8], 0, 32, "int32");
 * const head = gpt.layers[gpt.layers.length - 1];
 * const ctx = new Context({ params: gpt.params, selector: discardAll, training: false });
 * const full = gpt.loss.forward(head.forward(hidden, ctx.child("head")), y, ctx.child("loss")).dataSync()[0];
 * const chunked = chunkedLoss(head, hidden, y, undefined, ctx, { chunks: chunkRanges(8, 3), backward: false });
 * assert.ok(Math.abs(chunked.loss - full) < 1e-5);
 * ```
 * @throws {TypeError} when `targets` (or `weights`) are not `[B, T]` like the hidden state's first two axes.
 */
export function chunkedLoss(
  head: Layer,
  hidden: tf.Tensor,
  targets: tf.Tensor,
  weights: tf.Tensor | undefined,
  ctx: Context,
  options: ChunkedLossOptions,
): ChunkedLossResult {
  const [b, t, d] = hidden.shape;
  for (const [name, x] of [["targets", targets], ["weights", weights]] as const) {
    if (x && (x.rank !== 2 || x.shape[0] !== b || x.shape[1] !== t)) {
      throw new TypeError(
        `Cannot compute the chunked loss: '${name}' must be [${b}, ${t}] like the hidden state: current shape is [${x.shape}]`,
      );
    }
  }
  if (targets.dtype !== "int32") {
    throw new TypeError(`Cannot compute the chunked loss: 'targets' must be int32: current dtype is ${targets.dtype}`);
  }
  const n = options.denominator ?? lossDenominator(targets.shape, weights);
  const scale = options.rowScale;
  if (scale && scale.length !== b) {
    throw new RangeError(
      `Cannot compute the chunked loss: 'rowScale' must have ${b} entries (one per row): current length is ${scale.length}`,
    );
  }
  const rowParts: tf.Tensor[] = []; // per chunk: Σ_t w·nll per row, [B] (downloaded once at the end)
  const grads: tf.Tensor[] = [];
  const factor = scale ? tf.tensor2d(Float32Array.from(scale, (g) => g / n), [b, 1]) : null; // [B, 1]
  try {
    for (const { start, end } of options.chunks) {
      const c = end - start;
      const store = new SavedStore();
      const chunk = options.backward
        ? chunkContext(ctx, store)
        : { ctx: ctx.withSelector(discardAll).withStore(store), grads: null };
      const cctx = chunk.ctx;
      try {
        const out = tf.tidy(() => {
          const hc = hidden.slice([0, start, 0], [b, c, d]); // [B, c, D]
          const yc = targets.slice([0, start], [b, c]).reshape([-1]); // [B·c]
          const wc = weights?.slice([0, start], [b, c]); // [B, c]
          // Each [B·c, V] tensor is freed as soon as the next one exists: at most two live at a time.
          const logits = head.forward(hc, cctx.child(head.name)); // [B, c, V]: this chunk's only
          const v = logits.shape[2] as number;
          const z = logits.reshape([b * c, v]);
          const { probs, nll } = softmaxXent(z, yc); // [B·c, V], [B·c]
          tf.dispose([logits, z]);
          const weighted = wc ? tf.mul(nll.reshape([b, c]), wc) : nll.reshape([b, c]);
          const rowSum = tf.sum(weighted, 1); // [B]
          if (!options.backward) return [rowSum];
          // d(Σ_b g_b·rowSum_b / N)/dlogits = (softmax − onehot(y))·w·g_b/N, row by row.
          const dlogits = tf.tidy(() => {
            if (!wc && !factor) return softmaxXentGrad(probs, yc, (b * c) / n); // (p − onehot)/N
            let f: tf.Tensor = wc ?? tf.ones([b, c]); // [B, c]
            f = factor ? tf.mul(f, factor) : tf.div(f, n);
            return tf.mul(tf.sub(probs, tf.oneHot(yc as tf.Tensor1D, v)), f.reshape([b * c, 1])); // [B·c, V]
          });
          probs.dispose();
          const d3 = dlogits.reshape([b, c, v]);
          const dh = headBackward(head, d3, cctx.child(head.name), ctx.grads); // [B, c, D]
          tf.dispose([dlogits, d3]);
          return [rowSum, dh];
        });
        rowParts.push(out[0]);
        if (out[1]) grads.push(out[1]);
        if (options.backward && store.size !== 0) {
          throw new Error(`StreamBP: the head left ${store.size} saved tensors unused (${store.report()[0].tag})`);
        }
        if (chunk.grads) mergeGrads(ctx.grads, chunk.grads);
      } catch (e) {
        if (chunk.grads) tf.dispose(Object.values(chunk.grads));
        throw e;
      } finally {
        store.dispose();
      }
    }
    const rowSums = new Float64Array(b);
    for (const part of rowParts) part.dataSync().forEach((v, r) => (rowSums[r] += v));
    const loss = rowSums.reduce((a, x) => a + x, 0) / n;
    const dHidden = options.backward ? (grads.length === 1 ? grads[0].clone() : tf.concat(grads, 1)) : null;
    return { loss, rowSums, dHidden };
  } finally {
    factor?.dispose();
    tf.dispose(rowParts);
    tf.dispose(grads);
  }
}

/**
 * The backward of `linear` (as `Linear.backward`) whose weight gradient is added straight into `running` (the pass's
 * running sums) with {@linkcode matMulAccumulate}: for the LM head's `[D, vocab]` weight no per-chunk gradient is
 * ever allocated. The bias gradient goes into `ctx` as usual. Returns the input gradient.
 */
function linearBackwardInto(linear: Linear, dy: tf.Tensor, ctx: Context, running: Grads): tf.Tensor {
  return tf.tidy(() => {
    const dy2 = dy.reshape([-1, linear.outDim]) as tf.Tensor2D; // [N, out]
    const key = ctx.at("w");
    const entry = ctx.take("input");
    try {
      const old = running[key];
      let next: tf.Tensor;
      if (entry.policy.weightGrad) {
        const dw = entry.policy.weightGrad(entry.packed, dy2, entry.info); // a policy that never re-materializes x
        next = old ? accumulate(old, dw) : dw.clone();
      } else {
        const x2 = entry.policy.unpack(entry.packed, entry.info); // [N, in]
        next = old ? matMulAccumulate(old, x2, dy2, true, false) : tf.matMul(x2, dy2, true, false); // [in, out]
      }
      running[key] = tf.keep(next);
      if (old && old !== next) old.dispose();
    } finally {
      entry.policy.dispose(entry.packed);
    }
    if (linear.options.bias) ctx.accumulate("b", columnSumLater(dy2));
    const dx = tf.matMul(dy2, ctx.param("w") as tf.Tensor2D, false, true); // [N, in]
    return dx.reshape([...dy.shape.slice(0, -1), linear.inDim]);
  });
}

/** The head's backward, with its last Linear (the output projection) accumulating into `running`. */
function headBackward(head: Layer, dy: tf.Tensor, ctx: Context, running: Grads): tf.Tensor {
  if (head instanceof Linear) return linearBackwardInto(head, dy, ctx, running);
  const layers = head instanceof Sequence ? head.layers : [];
  const last = layers[layers.length - 1];
  if (!(last instanceof Linear)) return head.backward(dy, ctx)!;
  let g = linearBackwardInto(last, dy, ctx.child(last.name), running);
  for (let i = layers.length - 2; i >= 0; i--) {
    const next = layers[i].backward(g, ctx.child(layers[i].name))!;
    g.dispose();
    g = next;
  }
  return g;
}
