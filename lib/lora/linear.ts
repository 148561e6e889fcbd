/**
 * The LoRA layer: a base {@linkcode Linear} plus a low-rank update, `y = x·W + b + (α/r)·(x·A)·B`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "../nn/context.ts";
import type { Layer, ParamSpec, SavedSpec } from "../nn/layer.ts";
import type { Linear } from "../nn/linear.ts";

/** Options for {@linkcode LoraLinear}. */
export interface LoraLinearOptions {
  /** Rank r of the update (A is `[in, r]`, B is `[r, out]`), a positive integer. @default {8} */
  rank?: number;
  /** Scale numerator: the update is multiplied by `alpha / rank`. Positive. @default {2·rank} */
  alpha?: number;
  /** Init std of A (B starts at zero). @default {1/√(3·in), the variance of PEFT's Kaiming-uniform init} */
  aStd?: number;
}

/** Throws a RangeError naming `what`'s option `key` unless `v` passes `ok`. */
export function checkOption(what: string, key: string, v: unknown, ok: boolean, must: string): void {
  if (!ok) throw new RangeError(`Cannot create ${what}: '${key}' must be ${must}: current value is ${String(v)}`);
}

/**
 * A Linear with a LoRA adapter (Hu et al., arXiv:2106.09685): `y = x·W + b + s·(x·A)·B` with `s = alpha / rank`,
 * A `[in, r]` (parameter `lora_a`, normal init) and B `[r, out]` (`lora_b`, zeros, so the layer starts equal to its
 * base). It has the base's name and parameters (`w`, `b`) plus the two adapters, and runs the base Linear itself, so
 * a frozen base weight ({@linkcode Context.trainable}) saves no input for its gradient. What it saves, each only when
 * needed: the input (role `linear.input`, tag `lora_input`) for A's gradient and `s·x·A` (`[N, r]`, role `lora.u`)
 * for B's. Backward: `dB = (s·x·A)ᵀ·dy`, `dA = xᵀ·(s·dy·Bᵀ)` (through the saving policy's `weightGrad` when it has
 * one), `dx = dy·Wᵀ + s·dy·Bᵀ·Aᵀ`.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Context, Linear } from "../nn/mod.ts";
 * import { LoraLinear } from "./linear.ts";
 * import assert from "node:assert/strict";
 *
 * const fc = new LoraLinear(new Linear("fc", 4, 3), { rank: 2 });
 * assert.deepEqual(fc.paramSpecs().map((s) => s.name), ["w", "b", "lora_a", "lora_b"]);
 * const params = { "fc.w": tf.ones([4, 3]), "fc.b": tf.zeros([3]), "fc.lora_a": tf.ones([4, 2]), "fc.lora_b": tf.zeros([2, 3]) };
 * const ctx = new Context({ params, trainable: (n) => n.includes("lora_") });
 * const y = fc.forward(tf.ones([5, 4]), ctx.child("fc")); // B = 0: equals the base layer's output
 * assert.deepEqual(Array.from(y.dataSync()), new Array(15).fill(4));
 * fc.backward(tf.onesLike(y), ctx.child("fc"));
 * assert.deepEqual(Object.keys(ctx.grads).sort(), ["fc.lora_a", "fc.lora_b"]);
 * ```
 */
export class LoraLinear implements Layer {
  /** The layer's name (the base's). */
  readonly name: string;
  /** Rank r. */
  readonly rank: number;
  /** Scale numerator α. */
  readonly alpha: number;
  /** `alpha / rank`. */
  readonly scale: number;
  /** Init std of A. */
  readonly aStd: number;

  /**
   * Wraps `base` with an adapter of rank `options.rank`.
   * @throws {RangeError} when `rank` is not a positive integer, or `alpha` or `aStd` is not a positive number.
   */
  constructor(readonly base: Linear, options: LoraLinearOptions = {}) {
    const what = `LoraLinear "${base.name}"`;
    const rank = options.rank ?? 8;
    checkOption(what, "rank", rank, Number.isInteger(rank) && rank >= 1, "a positive integer");
    const alpha = options.alpha ?? 2 * rank;
    checkOption(what, "alpha", alpha, Number.isFinite(alpha) && alpha > 0, "a positive number");
    const aStd = options.aStd ?? 1 / Math.sqrt(3 * base.inDim);
    checkOption(what, "aStd", aStd, Number.isFinite(aStd) && aStd > 0, "a positive number");
    this.name = base.name;
    this.rank = rank;
    this.alpha = alpha;
    this.scale = alpha / rank;
    this.aStd = aStd;
  }

  /** The base's `w`, `b`, then `lora_a [in, r]` and `lora_b [r, out]`. */
  paramSpecs(): ParamSpec[] {
    return [
      ...this.base.paramSpecs(),
      { name: "lora_a", shape: [this.base.inDim, this.rank], init: { kind: "normal", std: this.aStd } },
      { name: "lora_b", shape: [this.rank, this.base.outDim], init: { kind: "zeros" } },
    ];
  }

  /** The base's input (for `w`), the input again for `lora_a`, and `s·x·A` for `lora_b`. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    const n = inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return [
      ...this.base.savedSpecs(inputShape),
      {
        name: "lora_input",
        role: "linear.input",
        shape: [n, this.base.inDim],
        dtype: "float32",
        groupAxis: 1,
        onlyFor: ["lora_a"],
      },
      { name: "lora_u", role: "lora.u", shape: [n, this.rank], dtype: "float32", onlyFor: ["lora_b"] },
    ];
  }

  /** `[..., in] -> [..., out]`. */
  outputShape(inputShape: readonly number[]): number[] {
    return this.base.outputShape(inputShape);
  }

  /** `y = x·W + b + s·(x·A)·B`. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    const y = this.base.forward(x, ctx);
    return tf.tidy(() => {
      const x2 = x.reshape([-1, this.base.inDim]); // [N, in]
      if (ctx.trainable("lora_a")) ctx.save("lora_input", x2, "linear.input", 1);
      const u = tf.mul(tf.matMul(x2, ctx.param("lora_a")), this.scale); // [N, r]
      if (ctx.trainable("lora_b")) ctx.save("lora_u", u, "lora.u");
      const delta = tf.matMul(u, ctx.param("lora_b")).reshape(y.shape); // [..., out]
      const out = tf.add(y, delta);
      y.dispose();
      return out;
    });
  }

  /** The base's backward, then `dA`, `dB` (when trained) and the adapter's share of `dx`. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    const dxBase = this.base.backward(dy, ctx);
    return tf.tidy(() => {
      const dy2 = dy.reshape([-1, this.base.outDim]) as tf.Tensor2D; // [N, out]
      if (ctx.trainable("lora_b")) {
        const u = ctx.load("lora_u") as tf.Tensor2D; // [N, r]
        ctx.accumulate("lora_b", tf.matMul(u, dy2, true, false)); // [r, out]
      }
      const v = tf.mul(tf.matMul(dy2, ctx.param("lora_b") as tf.Tensor2D, false, true), this.scale) as tf.Tensor2D;
      if (ctx.trainable("lora_a")) {
        const entry = ctx.take("lora_input");
        try {
          const da = entry.policy.weightGrad
            ? entry.policy.weightGrad(entry.packed, v, entry.info)
            : tf.matMul(entry.policy.unpack(entry.packed, entry.info) as tf.Tensor2D, v, true, false); // [in, r]
          ctx.accumulate("lora_a", da);
        } finally {
          entry.policy.dispose(entry.packed);
        }
      }
      const dxLora = tf.matMul(v, ctx.param("lora_a") as tf.Tensor2D, false, true).reshape(dxBase.shape);
      const dx = tf.add(dxBase, dxLora);
      dxBase.dispose();
      return dx;
    });
  }
}
