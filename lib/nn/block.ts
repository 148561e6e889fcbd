/**
 * The pre-LayerNorm Transformer block (GPT-2 / ViT style).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkStart, SelfAttention } from "./attention.ts";
import { Gelu } from "./gelu.ts";
import { checkInput, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";
import { LayerNorm } from "./layernorm.ts";
import { Linear } from "./linear.ts";
import { Sequence } from "./sequence.ts";

/** Options for {@linkcode TransformerBlock}. */
export interface BlockOptions {
  /** Width D. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** MLP hidden width. @default {4·dim} */
  mlpDim?: number;
  /** Causal attention. @default {true} */
  causal?: boolean;
  /** Init std of the two residual projections. @default {0.02} */
  residStd?: number;
}

/** `h = x + attn(ln1(x)); y = h + fc2(gelu(fc1(ln2(h))))`. */
export class TransformerBlock implements Layer {
  /** First LayerNorm. */
  readonly ln1: LayerNorm;
  /** Self-attention. */
  readonly attn: SelfAttention;
  /** Second LayerNorm. */
  readonly ln2: LayerNorm;
  /** The MLP: fc1 → gelu → fc2. */
  readonly mlp: Sequence;

  /** Creates a block named `name`. */
  constructor(readonly name: string, options: BlockOptions) {
    const { dim, heads } = options;
    const mlpDim = options.mlpDim ?? 4 * dim;
    const residStd = options.residStd ?? 0.02;
    this.ln1 = new LayerNorm("ln1", dim);
    this.attn = new SelfAttention("attn", dim, heads, { causal: options.causal ?? true, projStd: residStd });
    this.ln2 = new LayerNorm("ln2", dim);
    this.mlp = new Sequence("mlp", [
      new Linear("fc1", dim, mlpDim),
      new Gelu("gelu"),
      new Linear("fc2", mlpDim, dim, { std: residStd }),
    ]);
  }

  /** Children's parameters. */
  paramSpecs(): ParamSpec[] {
    return [this.ln1, this.attn, this.ln2, this.mlp].flatMap((l) => prefixed(l.name, l.paramSpecs()));
  }

  /** Children's saved tensors. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return [this.ln1, this.attn, this.ln2, this.mlp].flatMap((l) => prefixed(l.name, l.savedSpecs(inputShape)));
  }

  /** Same shape as the input. */
  outputShape(inputShape: readonly number[]): number[] {
    return inputShape.slice();
  }

  /**
   * Block forward. With `start > 0`, `x [B, e, D]` is the block input of rows `0..e-1` and the output is the block
   * output of rows `start..e-1` only (`[B, e − start, D]`): queries, residual, norms and MLP run on those rows, and
   * attention reads the keys and values of all `e` rows (the causal mask aligned at the bottom right). Those rows
   * equal the full pass's; the backward of a slice returns the input gradient of all `e` rows.
   */
  forward(x: tf.Tensor, ctx: Context, start = 0): tf.Tensor {
    checkInput(`TransformerBlock "${ctx.at("")}"`, x, { rank: 3, lastDim: this.ln1.dim });
    const [b, e, d] = x.shape;
    checkStart(`TransformerBlock "${ctx.at("")}"`, start, e);
    return tf.tidy(() => {
      const a = this.attn.forward(this.ln1.forward(x, ctx.child("ln1")), ctx.child("attn"), start); // [B, tq, D]
      const rows = start === 0 ? x : x.slice([0, start, 0], [b, e - start, d]); // [B, tq, D]
      const h = tf.add(rows, a);
      return tf.add(h, this.mlp.forward(this.ln2.forward(h, ctx.child("ln2")), ctx.child("mlp")));
    });
  }

  /**
   * Block backward: the residual adds pass `dy` through and add the branches' input gradients. `dy` is `[B, tq, D]`
   * for the forward's output rows; the result is `[B, e, D]` (rows before a slice's start get only the key/value
   * path's gradient).
   */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      const dmlp = this.mlp.backward(dy, ctx.child("mlp"))!;
      const dh = tf.add(dy, this.ln2.backward(dmlp, ctx.child("ln2"))); // [B, tq, D]
      const dattn = this.attn.backward(dh, ctx.child("attn")); // [B, e, D]
      const dx = this.ln1.backward(dattn, ctx.child("ln1")); // [B, e, D]
      const e = dx.shape[1] as number, tq = dh.shape[1] as number;
      return tf.add(tq === e ? dh : tf.pad(dh, [[0, 0], [e - tq, 0], [0, 0]]), dx);
    });
  }
}
