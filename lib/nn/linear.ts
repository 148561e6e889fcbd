/**
 * Linear layer `y = x·W + b` with an explicit backward.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, type SavedSpec } from "./layer.ts";
import { columnSumLater, linear, matMulLater } from "./_fused.ts";

/** Options for {@linkcode Linear}. */
export interface LinearOptions {
  /** Init std of W. @default {0.02} */
  std?: number;
  /** Whether the layer has a bias. @default {true} */
  bias?: boolean;
}

/**
 * Linear layer over the last axis: `x [..., in] -> y [..., out]`. Saves its input (role `linear.input`), whose policy
 * may offer `weightGrad` (WTA-CRS) instead of a dense input.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Context } from "./context.ts";
 * import { Linear } from "./linear.ts";
 * import { initParams } from "../models/init.ts";
 * import assert from "node:assert/strict";
 *
 * const fc = new Linear("fc", 64, 256);
 * const ctx = new Context({ params: initParams(fc.paramSpecs().map((s) => ({ ...s, name: `fc.${s.name}` })), 0) });
 * const x = tf.randomNormal([2, 8, 64]);
 * const y = fc.forward(x, ctx.child("fc")); // x [B, T, 64] -> y [B, T, 256]
 * const dx = fc.backward(tf.onesLike(y), ctx.child("fc")); // [B, T, 64]; dW, db accumulated in ctx.grads
 * assert.deepEqual([y.shape, dx.shape], [[2, 8, 256], [2, 8, 64]]);
 * assert.deepEqual(ctx.grads["fc.w"].shape, [64, 256]);
 * ```
 */
export class Linear implements Layer {
  /** Options in effect. */
  readonly options: Required<LinearOptions>;

  /** Creates a linear layer named `name` mapping `inDim` to `outDim` features. */
  constructor(readonly name: string, readonly inDim: number, readonly outDim: number, options: LinearOptions = {}) {
    if (!Number.isInteger(inDim) || inDim <= 0 || !Number.isInteger(outDim) || outDim <= 0) {
      throw new RangeError(
        `Cannot create Linear "${name}": dims must be positive integers: current [${inDim}, ${outDim}]`,
      );
    }
    this.options = { std: options.std ?? 0.02, bias: options.bias ?? true };
  }

  /** Parameters: `w [in, out]`, `b [out]`. */
  paramSpecs(): ParamSpec[] {
    const specs: ParamSpec[] = [{
      name: "w",
      shape: [this.inDim, this.outDim],
      init: { kind: "normal", std: this.options.std },
    }];
    if (this.options.bias) specs.push({ name: "b", shape: [this.outDim], init: { kind: "zeros" } });
    return specs;
  }

  /** Saves the input, flattened to `[N, in]`. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    const n = inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return [{ name: "input", role: "linear.input", shape: [n, this.inDim], dtype: "float32", groupAxis: 1 }];
  }

  /** `[..., in] -> [..., out]`. */
  outputShape(inputShape: readonly number[]): number[] {
    return [...inputShape.slice(0, -1), this.outDim];
  }

  /** `y = x·W + b`. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    checkInput(`Linear "${ctx.at("")}"`, x, { lastDim: this.inDim });
    return tf.tidy(() => {
      const x2 = x.reshape([-1, this.inDim]); // [N, in]
      ctx.save("input", x2, "linear.input", 1);
      const y = linear(
        x2 as tf.Tensor2D,
        ctx.param("w") as tf.Tensor2D,
        this.options.bias ? ctx.param("b") : undefined,
      );
      return y.reshape(this.outputShape(x.shape)); // [..., out]
    });
  }

  /** `dW = xᵀ·dy`, `db = Σ dy`, `dx = dy·Wᵀ`. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      const dy2 = dy.reshape([-1, this.outDim]) as tf.Tensor2D; // [N, out]
      const entry = ctx.take("input");
      let dw: tf.Tensor;
      try {
        if (entry.policy.weightGrad) {
          dw = entry.policy.weightGrad(entry.packed, dy2, entry.info);
        } else {
          const x2 = entry.policy.unpack(entry.packed, entry.info) as tf.Tensor2D; // [N, in]
          dw = matMulLater(x2, dy2, true, false); // [in, out]: read by the optimizer, so it may finish later
        }
      } finally {
        entry.policy.dispose(entry.packed);
      }
      ctx.accumulate("w", dw);
      if (this.options.bias) ctx.accumulate("b", columnSumLater(dy2));
      const dx = tf.matMul(dy2, ctx.param("w") as tf.Tensor2D, false, true); // [N, in]
      return dx.reshape([...dy.shape.slice(0, -1), this.inDim]);
    });
  }
}
