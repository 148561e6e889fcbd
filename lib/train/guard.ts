/**
 * The training loop's guard against non-finite numbers: a cheap check (one fused kernel, one download) of a
 * step's loss and gradients before the update (a gradient step) or of its loss and updated parameters after it (a
 * whole `TrainStep`, update in backward), and the {@linkcode NonFiniteError} that names the step and the first bad
 * parameter or policy.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSource } from "../nn/grad_source.ts";
import type { Params } from "../nn/params.ts";
import type { Stateful, StateTree } from "../nn/stateful.ts";
import { disposeState } from "../optim/transform.ts";
import { firstNonFiniteIndex } from "./finite_kernel.ts";

/** What was not finite: the loss, a gradient, an updated parameter or a policy's state. */
export type NonFiniteKind = "loss" | "gradient" | "parameter" | "policy";

/**
 * A training step met a non-finite number. `step` is the step (0-based, the pass key's step), `kind` what was not
 * finite and `subject` the first such parameter, gradient or policy (`"loss"` when only the loss is).
 *
 * @example Usage
 * ```ts
 * import { NonFiniteError } from "./guard.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new NonFiniteError(12, "gradient", "blocks.0.mlp.fc1.w");
 * assert.equal(e.message, "Training stopped at step 12: the gradient of 'blocks.0.mlp.fc1.w' is not finite");
 * assert.ok(e instanceof RangeError);
 * ```
 */
export class NonFiniteError extends RangeError {
  /** Creates the error; `detail` is appended to the message. */
  constructor(readonly step: number, readonly kind: NonFiniteKind, readonly subject: string, detail = "") {
    const what = kind === "loss"
      ? "the loss is not finite"
      : kind === "policy"
      ? `the state of policy '${subject}' is not finite`
      : `the ${kind} '${subject}' is not finite`.replace(/^the gradient '/, "the gradient of '");
    super(`Training stopped at step ${step}: ${what}${detail}`);
    this.name = "NonFiniteError";
  }
}

/**
 * The name of the first tensor of `tensors` (in key order) holding a NaN or an infinity, or `undefined` (int and
 * empty tensors are skipped). On wasm/blas one fused kernel over every tensor and one 4-byte download
 * ({@linkcode firstNonFiniteIndex}); elsewhere one sum per float tensor and one download.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { firstNonFinite } from "./guard.ts";
 * import assert from "node:assert/strict";
 *
 * const t = { a: tf.tensor1d([1, 2]), b: tf.tensor1d([0, NaN]) };
 * assert.equal(firstNonFinite(t), "b");
 * tf.dispose(Object.values(t));
 * ```
 */
export function firstNonFinite(tensors: Params): string | undefined {
  const keys = Object.keys(tensors);
  const i = firstNonFiniteIndex(keys.map((k) => tensors[k]));
  return i < 0 ? undefined : keys[i];
}

/** Whether a state tree holds a non-finite number (tensors are downloaded: for diagnosis, not the hot path). */
function treeNonFinite(x: StateTree): boolean {
  if (typeof x === "number") return !Number.isFinite(x);
  if (x instanceof tf.Tensor) return x.dtype === "float32" && (x.dataSync() as Float32Array).some((v) => !isFinite(v));
  if (x instanceof Float32Array || x instanceof Float64Array) return x.some((v) => !Number.isFinite(v));
  if (Array.isArray(x)) return x.some(treeNonFinite);
  if (x !== null && typeof x === "object" && !ArrayBuffer.isView(x)) return Object.values(x).some(treeNonFinite);
  return false;
}

/**
 * Why a step's numbers are not finite, for the error: the first non-finite parameter, else the first stateful piece
 * (policy) whose state is not finite, else the loss itself.
 */
export function diagnose(
  step: number,
  params: Params,
  stateful: Readonly<Record<string, Stateful>>,
  detail = "",
): NonFiniteError {
  const p = firstNonFinite(params);
  if (p !== undefined) return new NonFiniteError(step, "parameter", p, detail);
  for (const [name, s] of Object.entries(stateful)) {
    const tree = s.stateDict();
    try {
      if (treeNonFinite(tree)) return new NonFiniteError(step, "policy", name, detail);
    } finally {
      disposeState(tree);
    }
  }
  return new NonFiniteError(step, "loss", "loss", detail);
}

/**
 * Wraps a gradient source so that a non-finite gradient throws a {@linkcode NonFiniteError} (after freeing the
 * gradients) before any update: the step then changes nothing. A non-finite loss is passed on: the gradient step
 * refuses it before updating, and the Trainer turns that into a `NonFiniteError` naming the cause. `context` gives
 * the step number.
 */
export function guardedSource(
  source: GradSource,
  context: () => { step: number },
): GradSource {
  return {
    name: source.name,
    lossAndGrads(model, batch, options) {
      const out = source.lossAndGrads(model, batch, options);
      // A non-finite loss is left to the step, which refuses it before any update (the Trainer names the cause).
      if (!Number.isFinite(out.loss)) return out;
      const g = firstNonFinite(out.grads);
      const error = g === undefined ? undefined : new NonFiniteError(context().step, "gradient", g);
      if (error) {
        disposeState(out.grads);
        throw error;
      }
      return out;
    },
  };
}

/** New handles on every tensor of a tree (`tf.clone`: shared buffers, no copy), same structure. */
export function cloneTree<T>(x: T): T {
  if (x instanceof tf.Tensor) return tf.keep(tf.clone(x)) as T;
  if (Array.isArray(x)) return x.map(cloneTree) as T;
  if (x !== null && typeof x === "object" && !ArrayBuffer.isView(x)) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, cloneTree(v)])) as T;
  }
  return x;
}
