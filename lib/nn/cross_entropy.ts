/**
 * Softmax cross-entropy with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type SavedSpec } from "./layer.ts";
import { softmaxXent, softmaxXentGrad } from "./_fused.ts";

/**
 * Mean softmax cross-entropy of `logits [..., C]` against int32 `targets [...]`, optionally weighted per position
 * (`weights [...]`, e.g. a loss mask): `Σ w·(logsumexp(z) − z_y) / Σ w`. Saves the softmax probabilities
 * (role `loss.probs`) and the targets (and weights when given).
 */
export class SoftmaxCrossEntropy {
  /** Path segment. */
  readonly name = "loss";

  /** Probabilities `[N, C]`, targets `[N]` and, when weighted, weights `[N]`. */
  savedSpecs(logitsShape: readonly number[], weighted = false): SavedSpec[] {
    const c = logitsShape[logitsShape.length - 1];
    const n = logitsShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const specs: SavedSpec[] = [
      { name: "probs", role: "loss.probs", shape: [n, c], dtype: "float32" },
      { name: "targets", role: "loss.targets", shape: [n], dtype: "int32" },
    ];
    if (weighted) specs.push({ name: "weights", role: "loss.weights", shape: [n], dtype: "float32" });
    return specs;
  }

  /** The scalar loss. */
  forward(logits: tf.Tensor, targets: tf.Tensor, ctx: Context, weights?: tf.Tensor): tf.Scalar {
    const where = `SoftmaxCrossEntropy "${ctx.at("")}"`;
    checkInput(where, targets, { dtype: "int32" });
    if (logits.shape.slice(0, -1).join(",") !== targets.shape.join(",")) {
      throw new TypeError(`${where}: targets shape [${targets.shape}] does not match logits shape [${logits.shape}]`);
    }
    if (weights && weights.shape.join(",") !== targets.shape.join(",")) {
      throw new TypeError(`${where}: weights shape [${weights.shape}] does not match targets shape [${targets.shape}]`);
    }
    const c = logits.shape[logits.rank - 1];
    return tf.tidy(() => {
      const z = logits.reshape([-1, c]); // [N, C]
      const t = targets.reshape([-1]); // [N]
      const { probs, nll } = softmaxXent(z, t); // [N, C], [N]
      ctx.save("probs", probs, "loss.probs");
      ctx.save("targets", t, "loss.targets");
      if (!weights) return tf.mean(nll) as tf.Scalar;
      const w = weights.reshape([-1]);
      ctx.save("weights", w, "loss.weights");
      return tf.div(tf.sum(tf.mul(nll, w)), tf.maximum(tf.sum(w), 1e-12)) as tf.Scalar;
    });
  }

  /** `dlogits = (softmax(z) − onehot(y))·w / Σw`, shaped like the logits; `logitsShape` restores the leading axes. */
  backward(ctx: Context, logitsShape: readonly number[], dloss = 1): tf.Tensor {
    return tf.tidy(() => {
      const probs = ctx.load("probs"); // [N, C]
      const [n, c] = probs.shape;
      const t = ctx.load("targets");
      if (!ctx.store.has(ctx.at("weights"))) return softmaxXentGrad(probs, t, dloss).reshape(logitsShape as number[]);
      const w = ctx.load("weights");
      let g = tf.sub(probs, tf.oneHot(t as tf.Tensor1D, c)); // [N, C]
      g = tf.mul(g, tf.div(w, tf.maximum(tf.sum(w), 1e-12)).reshape([n, 1]));
      if (dloss !== 1) g = tf.mul(g, dloss);
      return g.reshape(logitsShape as number[]);
    });
  }
}
