/**
 * Multi-head self-attention (causal or not) with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";
import { Linear } from "./linear.ts";
import {
  attentionProbs,
  causalKernelsActive,
  causalLowerMatMul,
  causalQkvGrad,
  causalScores,
  mergeHeads,
  softmaxGrad,
  splitHeads,
} from "./_fused.ts";

/** Options for {@linkcode SelfAttention}. */
export interface SelfAttentionOptions {
  /** Mask future positions (GPT) or not (ViT). @default {true} */
  causal?: boolean;
  /** Init std of the output projection (GPT-2 scales it by 1/sqrt(2·layers)). @default {0.02} */
  projStd?: number;
}

/**
 * `x [B, T, D] -> proj(softmax(q·kᵀ/√dh + mask)·v)`, with q, k, v from one `qkv` Linear. Saves q, k, v
 * (roles `attn.q|k|v`, `[B, H, T, dh]`, head axis 1) and the softmax output (role `softmax.output`, `[B, H, T, T]`),
 * which are exactly the operands of the two attention matmuls.
 */
export class SelfAttention implements Layer {
  /** The fused q/k/v projection `[D, 3D]`. */
  readonly qkv: Linear;
  /** The output projection `[D, D]`. */
  readonly proj: Linear;
  /** Whether future positions are masked. */
  readonly causal: boolean;
  /** Per-head width `D / heads`. */
  readonly headDim: number;

  /** Creates attention over `dim` features split into `heads` heads. */
  constructor(readonly name: string, readonly dim: number, readonly heads: number, options: SelfAttentionOptions = {}) {
    if (!Number.isInteger(heads) || heads <= 0 || dim % heads !== 0) {
      throw new RangeError(
        `Cannot create SelfAttention "${name}": 'heads' must be a positive divisor of dim ${dim}: current value is ${heads}`,
      );
    }
    this.headDim = dim / heads;
    this.causal = options.causal ?? true;
    this.qkv = new Linear("qkv", dim, 3 * dim);
    this.proj = new Linear("proj", dim, dim, { std: options.projStd ?? 0.02 });
  }

  /** The two projections' parameters. */
  paramSpecs(): ParamSpec[] {
    return [...prefixed("qkv", this.qkv.paramSpecs()), ...prefixed("proj", this.proj.paramSpecs())];
  }

  /** qkv input, q, k, v, softmax output and proj input. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    const [b, t] = inputShape;
    const h = this.heads, dh = this.headDim;
    const head = (name: string, role: string): SavedSpec => ({
      name,
      role,
      shape: [b, h, t, dh],
      dtype: "float32",
      groupAxis: 1,
    });
    return [
      ...prefixed("qkv", this.qkv.savedSpecs(inputShape)),
      head("q", "attn.q"),
      head("k", "attn.k"),
      head("v", "attn.v"),
      { name: "p", role: "softmax.output", shape: [b, h, t, t], dtype: "float32", groupAxis: 1 },
      ...prefixed("proj", this.proj.savedSpecs(inputShape)),
    ];
  }

  /** Same shape as the input. */
  outputShape(inputShape: readonly number[]): number[] {
    return inputShape.slice();
  }

  /**
   * Attention forward. With `start > 0` only the rows `start..e-1` of `x [B, e, D]` are queries (the output is
   * `[B, e − start, D]`), attending to the keys and values of all `e` rows, with the causal mask aligned to the
   * bottom right (query `i` sees keys `0..start+i`): the rows' outputs equal those of the full-sequence pass. This is
   * how a block runs on a slice of the sequence against its key/value prefix (StreamBP); the backward then returns
   * the input gradient of all `e` rows.
   */
  forward(x: tf.Tensor, ctx: Context, start = 0): tf.Tensor {
    checkInput(`SelfAttention "${ctx.at("")}"`, x, { rank: 3, lastDim: this.dim });
    const [b, e] = x.shape;
    checkStart(`SelfAttention "${ctx.at("")}"`, start, e);
    const tq = e - start;
    const h = this.heads, dh = this.headDim;
    return tf.tidy(() => {
      const qkv = this.qkv.forward(x, ctx.child("qkv")); // [B, e, 3D]
      const [qAll, k, v] = splitHeads(qkv, h, 3); // each [B, H, e, dh]
      const q = start === 0 ? qAll : qAll.slice([0, 0, start, 0], [b, h, tq, dh]); // [B, H, tq, dh]
      ctx.save("q", q, "attn.q", 1);
      ctx.save("k", k, "attn.k", 1);
      ctx.save("v", v, "attn.v", 1);
      const q3 = q.reshape([b * h, tq, dh]), k3 = k.reshape([b * h, e, dh]), v3 = v.reshape([b * h, e, dh]);
      // Causal on blas: the products skip the masked half and write the heads in place (`kernels/causal_matmul.ts`).
      const inPlace = this.causal && causalKernelsActive();
      const scores = inPlace ? causalScores(q3, k3) : tf.matMul(q3, k3, false, true); // [BH, tq, e]
      const p = attentionProbs(scores, 1 / Math.sqrt(dh), this.causal); // [BH, tq, e]
      ctx.save("p", p.reshape([b, h, tq, e]), "softmax.output", 1);
      const merged = inPlace ? causalLowerMatMul(p, v3, undefined, h) : mergeHeads([tf.matMul(p, v3)], b, h); // [B, tq, D]
      return this.proj.forward(merged, ctx.child("proj"));
    });
  }

  /**
   * Attention backward: through proj, the two matmuls, softmax, and qkv. `dy` is `[B, tq, D]` for the query rows of
   * the forward; the result is the gradient of all `e` input rows, `[B, e, D]`.
   */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    const [b, tq] = dy.shape;
    const h = this.heads, dh = this.headDim;
    return tf.tidy(() => {
      const dmerged = this.proj.backward(dy, ctx.child("proj")); // [B, tq, D]
      const scale = 1 / Math.sqrt(dh);
      if (this.causal && causalKernelsActive()) {
        // p and ds are 0 above the causal diagonal: the products skip that half and read/write the heads in place.
        const p4 = ctx.load("p"); // [B, H, tq, e]
        const e = p4.shape[3] as number;
        const p = p4.reshape([b * h, tq, e]);
        const dp = causalScores(dmerged, ctx.load("v").reshape([b * h, e, dh]), undefined, h); // [BH, tq, e]
        const ds = softmaxGrad(p, dp, scale); // [BH, tq, e]
        const q = ctx.load("q").reshape([b * h, tq, dh]), k = ctx.load("k").reshape([b * h, e, dh]);
        return this.qkv.backward(causalQkvGrad(ds, p, q, k, dmerged, h), ctx.child("qkv")); // dqkv [B, e, 3D]
      }
      const dout = splitHeads(dmerged, h, 1)[0].reshape([b * h, tq, dh]); // [BH, tq, dh]
      const p4 = ctx.load("p"); // [B, H, tq, e]
      const e = p4.shape[3] as number;
      const p = p4.reshape([b * h, tq, e]);
      const v = ctx.load("v").reshape([b * h, e, dh]);
      const dp = tf.matMul(dout, v, false, true); // [BH, tq, e]
      const dv = tf.matMul(p, dout, true, false); // [BH, e, dh]
      const ds = softmaxGrad(p, dp, scale); // [BH, tq, e]
      const q = ctx.load("q").reshape([b * h, tq, dh]);
      const k = ctx.load("k").reshape([b * h, e, dh]);
      let dq = tf.matMul(ds, k); // [BH, tq, dh]
      const dk = tf.matMul(ds, q, true, false); // [BH, e, dh]
      if (tq < e) dq = tf.pad(dq, [[0, 0], [e - tq, 0], [0, 0]]); // [BH, e, dh]: prefix rows asked no query
      const dqkv = mergeHeads([dq, dk, dv], b, h); // [B, e, 3D]
      return this.qkv.backward(dqkv, ctx.child("qkv"));
    });
  }
}

/** Throws a RangeError unless `start` is an integer in `[0, e)` (a slice needs at least one query row). */
export function checkStart(where: string, start: number, e: number): void {
  if (!Number.isInteger(start) || start < 0 || start >= e) {
    throw new RangeError(
      `${where}: 'start' must be an integer in [0, ${e}) for a sequence of ${e} rows: current value is ${start}`,
    );
  }
}
