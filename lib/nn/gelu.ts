/**
 * GELU (tanh form) with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import type { Layer, ParamSpec, SavedSpec } from "./layer.ts";
import { gelu, geluGrad } from "./_fused.ts";

/** `gelu(x) = 0.5·x·(1 + tanh(c·(x + 0.044715·x³)))`, elementwise. Saves its input (role `gelu.input`). */
export class Gelu implements Layer {
  /** Creates a GELU layer. */
  constructor(readonly name: string) {}

  /** No parameters. */
  paramSpecs(): ParamSpec[] {
    return [];
  }

  /** The input, as a `[N, C]` matrix. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    const c = inputShape[inputShape.length - 1];
    const n = inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return [{ name: "input", role: "gelu.input", shape: [n, c], dtype: "float32", groupAxis: 1 }];
  }

  /** Same shape as the input. */
  outputShape(inputShape: readonly number[]): number[] {
    return inputShape.slice();
  }

  /** Elementwise GELU. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      ctx.save("input", x.reshape([-1, x.shape[x.rank - 1]]), "gelu.input", 1);
      return gelu(x);
    });
  }

  /** `dx = dy·(0.5·(1+t) + 0.5·x·(1−t²)·c·(1 + 3·0.044715·x²))`, `t = tanh(c·(x + 0.044715·x³))`. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => geluGrad(ctx.load("input"), dy));
  }
}
