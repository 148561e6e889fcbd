/**
 * Applying updates to parameters, the one place where old parameters are disposed.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params, Updates } from "../nn/params.ts";
import { checkSameKeys } from "./_validate.ts";

/**
 * Returns new parameters `params[k] + updates[k]` and **disposes the old parameter tensors and the updates** (both
 * maps are consumed: do not use them afterwards), tensor by tensor: each old parameter goes as soon as its new value
 * exists, so two parameter sets never coexist. The new tensors are `tf.keep`-ed, so they survive a surrounding
 * `tf.tidy`. Keys and shapes are checked before anything is computed or disposed, so a mismatch leaves both maps
 * intact.
 *
 * Updates are added, so they must already carry the minus sign (`scaleByLearningRate` multiplies by `-lr`).
 * Parameters are plain tensors; a `tf.Variable` passed in is disposed like any other tensor.
 *
 * @typeParam P The parameter map's type (kept for the result).
 * @param params The current parameters (consumed).
 * @param updates Updates with the same keys and shapes (consumed).
 * @returns The new parameters, owned by the caller.
 * @throws {TypeError} when the keys or shapes of `params` and `updates` differ.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { applyUpdates } from "./apply.ts";
 * import assert from "node:assert/strict";
 *
 * const old = { w: tf.tensor1d([1, 2]) };
 * const updates = { w: tf.tensor1d([0.5, -1]) };
 * const params = applyUpdates(old, updates);
 * assert.deepEqual(Array.from(params.w.dataSync()), [1.5, 1]);
 * assert.ok(old.w.isDisposed && updates.w.isDisposed);
 * params.w.dispose();
 * ```
 */
export function applyUpdates<P extends Params>(params: P, updates: Updates): P {
  checkSameKeys("apply updates", "params", params, "updates", updates);
  for (const k in params) {
    const p = params[k].shape, u = updates[k].shape;
    if (p.length !== u.length || p.some((d, i) => d !== u[i])) {
      throw new TypeError(
        `Cannot apply updates: 'updates' entry '${k}' must have shape [${p}] like the parameter: current shape is [${u}]`,
      );
    }
  }
  // In place, tensor by tensor: each old parameter and its update are freed as soon as the new value exists, so two
  // parameter sets never coexist (at most one parameter is held twice).
  const next: Params = {};
  for (const k in params) {
    next[k] = tf.keep(tf.add(params[k], updates[k]));
    params[k].dispose();
    updates[k].dispose();
  }
  return next as P;
}
