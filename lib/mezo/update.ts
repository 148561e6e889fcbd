/**
 * MeZO's update of one tensor, shared by the training step and the replay of a run log, so both compute the same
 * bits: `θ ← (1 − lr·wd)·θ − Σⱼ (lr·gⱼ/n)·zⱼ`, one {@linkcode axpz} per estimate j (z regenerated from its seed).
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { axpz } from "./kernel.ts";
import { noiseKey, type NoiseKind } from "./noise.ts";

/** What one step's update of a tensor needs besides the tensor. */
export interface TensorUpdate {
  /** The learning rate of the step. */
  lr: number;
  /** The weight decay of this tensor (0 when it is not decayed). */
  wd: number;
  /** The projected gradients gⱼ of the step's n estimates (float32 values, as logged). */
  g: readonly number[];
  /** The seeds of the step's n estimates. */
  seeds: readonly number[];
  /** The distribution of z. */
  noise: NoiseKind;
}

/**
 * The updated tensor (a new one; `theta` is not disposed): estimate 0 applies `a = 1 − lr·wd, c = −lr·g₀/n`, each
 * further estimate `a = 1, c = −lr·gⱼ/n`, every one `fround(fround(a·θ) + fround(c·z))`. With `lr = 0` the result
 * equals `theta` bit for bit.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { updateTensor } from "./update.ts";
 * import assert from "node:assert/strict";
 *
 * const w = tf.tensor1d([1, -2, 3]);
 * const same = updateTensor(w, "w", { lr: 0, wd: 0.1, g: [5], seeds: [7], noise: "gaussian" });
 * assert.deepEqual(Array.from(same.dataSync()), [1, -2, 3]);
 * tf.dispose([w, same]);
 * ```
 */
export function updateTensor(theta: tf.Tensor, name: string, u: TensorUpdate): tf.Tensor {
  const n = u.g.length;
  let t = theta;
  for (let j = 0; j < n; j++) {
    const next = axpz(t, {
      a: j === 0 ? 1 - u.lr * u.wd : 1,
      c: (-u.lr * u.g[j]) / n,
      key: noiseKey(u.seeds[j], name),
      kind: u.noise,
    });
    if (t !== theta) t.dispose();
    t = next;
  }
  return t;
}
