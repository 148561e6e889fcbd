/**
 * Multi-head self-attention (causal or not) with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";
import { Linear } from "./linear.ts";
import { attentionProbs, mergeHeads, softmaxGrad, splitHeads } from "./_fused.ts";

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

  /** Attention forward. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    checkInput(`SelfAttention "${ctx.at("")}"`, x, { rank: 3, lastDim: this.dim });
    const [b, t] = x.shape;
    const h = this.heads, dh = this.headDim;
    return tf.tidy(() => {
      const qkv = this.qkv.forward(x, ctx.child("qkv")); // [B, T, 3D]
      const [q, k, v] = splitHeads(qkv, h, 3); // each [B, H, T, dh]
      ctx.save("q", q, "attn.q", 1);
      ctx.save("k", k, "attn.k", 1);
      ctx.save("v", v, "attn.v", 1);
      const q3 = q.reshape([b * h, t, dh]), k3 = k.reshape([b * h, t, dh]), v3 = v.reshape([b * h, t, dh]);
      const p = attentionProbs(tf.matMul(q3, k3, false, true), 1 / Math.sqrt(dh), this.causal); // [BH, T, T]
      ctx.save("p", p.reshape([b, h, t, t]), "softmax.output", 1);
      const o = tf.matMul(p, v3); // [BH, T, dh]
      const merged = mergeHeads([o], b, h); // [B, T, D]
      return this.proj.forward(merged, ctx.child("proj"));
    });
  }

  /** Attention backward: through proj, the two matmuls, softmax, and qkv. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    const [b, t] = dy.shape;
    const h = this.heads, dh = this.headDim;
    return tf.tidy(() => {
      const dmerged = this.proj.backward(dy, ctx.child("proj")); // [B, T, D]
      const dout = splitHeads(dmerged, h, 1)[0].reshape([b * h, t, dh]); // [BH, T, dh]
      const p = ctx.load("p").reshape([b * h, t, t]);
      const v = ctx.load("v").reshape([b * h, t, dh]);
      const dp = tf.matMul(dout, v, false, true); // [BH, T, T]
      const dv = tf.matMul(p, dout, true, false); // [BH, T, dh]
      const ds = softmaxGrad(p, dp, 1 / Math.sqrt(dh)); // [BH, T, T]
      const q = ctx.load("q").reshape([b * h, t, dh]);
      const k = ctx.load("k").reshape([b * h, t, dh]);
      const dq = tf.matMul(ds, k); // [BH, T, dh]
      const dk = tf.matMul(ds, q, true, false); // [BH, T, dh]
      const dqkv = mergeHeads([dq, dk, dv], b, h); // [B, T, 3D]
      return this.qkv.backward(dqkv, ctx.child("qkv"));
    });
  }
}
