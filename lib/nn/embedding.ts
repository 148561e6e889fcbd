/**
 * Token + learned position embedding with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, type SavedSpec } from "./layer.ts";
import { columnSum, embed } from "./_fused.ts";

/**
 * `ids [B, T] (int32) -> wte[ids] + wpe[0:T]  [B, T, D]`. Saves the ids (role `embedding.ids`); the backward
 * scatter-adds into `wte` (`tf.unsortedSegmentSum`, which memtrain registers on wasm) and sums over the batch for `wpe`.
 */
export class Embedding implements Layer {
  /** Creates an embedding of `vocab` tokens and `context` positions into `dim` features. */
  constructor(readonly name: string, readonly vocab: number, readonly context: number, readonly dim: number) {
    for (const [k, v] of Object.entries({ vocab, context, dim })) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new RangeError(
          `Cannot create Embedding "${name}": '${k}' must be a positive integer: current value is ${v}`,
        );
      }
    }
  }

  /** `wte [V, D]`, `wpe [context, D]`. */
  paramSpecs(): ParamSpec[] {
    return [
      { name: "wte", shape: [this.vocab, this.dim], init: { kind: "normal", std: 0.02 } },
      { name: "wpe", shape: [this.context, this.dim], init: { kind: "normal", std: 0.01 } },
    ];
  }

  /** The ids `[B·T]` (int32), for the `wte` gradient only. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return [{
      name: "ids",
      role: "embedding.ids",
      shape: [inputShape[0] * inputShape[1]],
      dtype: "int32",
      onlyFor: ["wte"],
    }];
  }

  /** `[B, T] -> [B, T, D]`. */
  outputShape(inputShape: readonly number[]): number[] {
    return [inputShape[0], inputShape[1], this.dim];
  }

  /** Looks up token and position vectors. */
  forward(ids: tf.Tensor, ctx: Context): tf.Tensor {
    const where = `Embedding "${ctx.at("")}"`;
    checkInput(where, ids, { rank: 2, dtype: "int32" });
    const [b, t] = ids.shape;
    if (t > this.context) {
      throw new RangeError(`${where}: sequence length must be at most ${this.context}: current value is ${t}`);
    }
    return tf.tidy(() => {
      const flat = ids.reshape([-1]); // [B*T]
      if (ctx.trainable("wte")) ctx.save("ids", flat, "embedding.ids");
      return embed(ctx.param("wte"), ctx.param("wpe"), flat, t).reshape([b, t, this.dim]); // [B, T, D]
    });
  }

  /** Accumulates the `wte` and `wpe` gradients (of those trained); ids have no gradient, so returns null. */
  backward(dy: tf.Tensor, ctx: Context): null {
    tf.tidy(() => {
      const [, t, d] = dy.shape;
      if (ctx.trainable("wte")) {
        const ids = ctx.load("ids");
        const dy2 = dy.reshape([-1, d]); // [B*T, D]
        ctx.accumulate("wte", tf.unsortedSegmentSum(dy2, ids as tf.Tensor1D, this.vocab));
      }
      if (!ctx.trainable("wpe")) return;
      let dpos = columnSum(dy.reshape([-1, t * d])).reshape([t, d]); // [T, D]: the sum over the batch
      if (t < this.context) dpos = tf.pad(dpos, [[0, this.context - t], [0, 0]]);
      ctx.accumulate("wpe", dpos);
    });
    return null;
  }
}
