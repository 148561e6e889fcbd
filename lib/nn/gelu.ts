/**
 * GELU (tanh form) with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import type { Layer, ParamSpec, SavedSpec } from "./layer.ts";

const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;

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
      const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), A)), C);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    });
  }

  /** `dx = dy·(0.5·(1+t) + 0.5·x·(1−t²)·c·(1 + 3·0.044715·x²))`, `t = tanh(c·(x + 0.044715·x³))`. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      const x = ctx.load("input").reshape(dy.shape);
      const x2 = tf.mul(x, x);
      const t = tf.tanh(tf.mul(tf.mul(x, tf.add(tf.mul(x2, A), 1)), C));
      const dinner = tf.mul(tf.add(tf.mul(x2, 3 * A), 1), C);
      const d = tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(x, 0.5), tf.sub(1, tf.mul(t, t))), dinner));
      return tf.mul(dy, d);
    });
  }
}
