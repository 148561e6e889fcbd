/**
 * LayerNorm over the last axis with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, type SavedSpec } from "./layer.ts";

/**
 * `y = (x - mean) * rstd * g + b` over the last axis. Saves the input (role `layernorm.input`, what Mesa quantizes)
 * and the exact per-row `mean` and `rstd` (role `layernorm.stats`, kept exact).
 */
export class LayerNorm implements Layer {
  /** Creates a LayerNorm over `dim` features. */
  constructor(readonly name: string, readonly dim: number, readonly eps = 1e-5) {
    if (!Number.isInteger(dim) || dim <= 0) {
      throw new RangeError(
        `Cannot create LayerNorm "${name}": 'dim' must be a positive integer: current value is ${dim}`,
      );
    }
  }

  /** Parameters: gain `g [dim]` (ones) and bias `b [dim]` (zeros). */
  paramSpecs(): ParamSpec[] {
    return [
      { name: "g", shape: [this.dim], init: { kind: "ones" } },
      { name: "b", shape: [this.dim], init: { kind: "zeros" } },
    ];
  }

  /** Input `[N, dim]` plus mean and rstd `[N, 1]` each. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    const n = inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return [
      { name: "input", role: "layernorm.input", shape: [n, this.dim], dtype: "float32", groupAxis: 1 },
      { name: "mean", role: "layernorm.stats", shape: [n, 1], dtype: "float32" },
      { name: "rstd", role: "layernorm.stats", shape: [n, 1], dtype: "float32" },
    ];
  }

  /** Same shape as the input. */
  outputShape(inputShape: readonly number[]): number[] {
    return inputShape.slice();
  }

  /** Normalizes each row. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    checkInput(`LayerNorm "${ctx.key("")}"`, x, { lastDim: this.dim });
    return tf.tidy(() => {
      const x2 = x.reshape([-1, this.dim]); // [N, D]
      const mean = x2.mean(1, true); // [N, 1]
      const xc = tf.sub(x2, mean);
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), 1, true), this.eps)); // [N, 1]
      ctx.save("input", x2, "layernorm.input", 1);
      ctx.save("mean", mean, "layernorm.stats");
      ctx.save("rstd", rstd, "layernorm.stats");
      const y = tf.add(tf.mul(tf.mul(xc, rstd), ctx.param("g")), ctx.param("b"));
      return y.reshape(x.shape);
    });
  }

  /** `dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·g`. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      const dy2 = dy.reshape([-1, this.dim]); // [N, D]
      const x2 = ctx.load("input");
      const mean = ctx.load("mean");
      const rstd = ctx.load("rstd");
      const xhat = tf.mul(tf.sub(x2, mean), rstd);
      ctx.accumulate("g", tf.sum(tf.mul(dy2, xhat), 0));
      ctx.accumulate("b", tf.sum(dy2, 0));
      const dxhat = tf.mul(dy2, ctx.param("g"));
      const m1 = tf.mean(dxhat, 1, true);
      const m2 = tf.mean(tf.mul(dxhat, xhat), 1, true);
      const dx = tf.mul(rstd, tf.sub(tf.sub(dxhat, m1), tf.mul(xhat, m2)));
      return dx.reshape(dy.shape);
    });
  }
}
