/**
 * Gradient clipping by the global norm (the norm of all gradients concatenated), as in optax's
 * `clip_by_global_norm`.
 *
 * Reference: Pascanu et al., "On the difficulty of training recurrent neural networks", https://arxiv.org/abs/1211.5063.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads } from "../nn/params.ts";
import { mapKept } from "./_tree.ts";
import { checkPositive } from "./_validate.ts";
import type { EmptyState, GradientTransform } from "./transform.ts";

/** The global norm as a scalar tensor (not kept; call inside a tidy). */
function globalNormTensor(grads: Grads): tf.Scalar {
  const parts = Object.values(grads).map((g) => tf.sum(tf.square(g)));
  if (parts.length === 0) return tf.scalar(0);
  return tf.sqrt(parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
}

/**
 * The global L2 norm `sqrt(sum_k sum(g_k^2))` of a map of tensors (0 for an empty map). Reads one number back from
 * the backend.
 *
 * @param grads Gradients or updates.
 * @returns The norm.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { globalNorm } from "./clip.ts";
 * import assert from "node:assert/strict";
 *
 * const g = { a: tf.tensor1d([3]), b: tf.tensor2d([[4]]) };
 * assert.equal(globalNorm(g), 5);
 * tf.dispose(Object.values(g));
 * ```
 */
export function globalNorm(grads: Grads): number {
  const norm = tf.tidy(() => globalNormTensor(grads));
  const value = norm.dataSync()[0];
  norm.dispose();
  return value;
}

/**
 * Scales all updates by `maxNorm / max(globalNorm, maxNorm)`: when the global norm exceeds `maxNorm` it becomes
 * exactly `maxNorm`, otherwise updates pass unchanged. Computed on the backend, with no read-back.
 *
 * @param maxNorm The largest allowed global norm, > 0.
 * @returns A stateless transform.
 * @throws {RangeError} when `maxNorm` is not a positive finite number.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { clipByGlobalNorm, globalNorm } from "./clip.ts";
 * import assert from "node:assert/strict";
 *
 * const g = { w: tf.tensor1d([3, 4]) };
 * const { updates } = clipByGlobalNorm(1).update(g, {});
 * assert.ok(Math.abs(globalNorm(updates) - 1) < 1e-6);
 * tf.dispose([g.w, updates.w]);
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransform<EmptyState> {
  checkPositive("clipByGlobalNorm", "maxNorm", maxNorm);
  return {
    name: "clipByGlobalNorm",
    separable: false,
    init: () => ({}),
    update(grads) {
      const scale = tf.tidy(() => tf.div(maxNorm, tf.maximum(globalNormTensor(grads), maxNorm)));
      try {
        return { updates: mapKept(grads, (k) => tf.mul(grads[k], scale)), state: {} };
      } finally {
        scale.dispose();
      }
    },
  };
}
