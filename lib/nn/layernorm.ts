/**
 * LayerNorm over the last axis with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, type SavedSpec } from "./layer.ts";
import { layerNorm, layerNormGrad } from "./_fused.ts";

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
    checkInput(`LayerNorm "${ctx.at("")}"`, x, { lastDim: this.dim });
    return tf.tidy(() => {
      const x2 = x.reshape([-1, this.dim]); // [N, D]
      const { y, mean, rstd } = layerNorm(x2, ctx.param("g"), ctx.param("b"), this.eps); // mean, rstd [N, 1]
      ctx.save("input", x2, "layernorm.input", 1);
      ctx.save("mean", mean, "layernorm.stats");
      ctx.save("rstd", rstd, "layernorm.stats");
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
      const { dx, dg, db } = layerNormGrad(dy2, x2, mean, rstd, ctx.param("g"));
      ctx.accumulate("g", dg); // dropped when frozen
      ctx.accumulate("b", db);
      return dx.reshape(dy.shape);
    });
  }
}
