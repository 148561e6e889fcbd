/**
 * Running an optimizer parameter by parameter: {@linkcode ParamUpdater} updates one parameter at a time with its slice
 * of the state, disposing that parameter's old state tensors at once, so a step never holds two optimizer states, two
 * parameter sets or (in backward) the whole gradient set. Only transforms that declare `separable: true` may be run
 * this way ({@linkcode checkSeparable}).
 *
 * A separable transform's state is a tree (objects, arrays, numbers) whose tensors all sit in **per-parameter maps**:
 * plain objects keyed by parameter names (Adam's `mu` and `nu`, momentum's `trace`: every parameter; GaLore's `proj`:
 * the projected ones), whose values are tensors or per-parameter records holding tensors (GaLore's projector with its
 * side and refresh step). The slice for parameter `k` cuts every such map to `{ k }` (or `{}` when the map has no `k`)
 * and keeps the other leaves (counts); the per-parameter results are merged back, and their other leaves must agree
 * (every parameter's `count` becomes `count + 1`, so a counter shared by all parameters, such as GaLore's refresh
 * clock, stays one number).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads, Params } from "../nn/params.ts";
import type { GradientTransform, UpdateExtras } from "./transform.ts";

/**
 * The names of the transforms that are not separable by parameter (the innermost offenders of a chain; empty when the
 * whole transform is separable).
 *
 * @example Usage
 * ```ts
 * import { adamw, chain, clipByGlobalNorm } from "./mod.ts";
 * import { globalTransforms } from "./separable.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(globalTransforms(adamw({ lr: 1e-3 })), []);
 * assert.deepEqual(globalTransforms(chain(clipByGlobalNorm(1), adamw({ lr: 1e-3 }))), ["clipByGlobalNorm"]);
 * ```
 */
export function globalTransforms(t: GradientTransform<unknown>): string[] {
  if (t.separable === true) return [];
  const kids = t.children ?? [];
  const inner = kids.flatMap((c) => globalTransforms(c));
  return inner.length > 0 ? inner : [t.name ?? "an unnamed transform"];
}

/**
 * Throws when `optimizer` cannot run parameter by parameter, naming the global transform and the alternatives.
 *
 * @param what What needs it, for the message (e.g. `"update in backward"`).
 * @throws {TypeError} when a transform in the chain is not separable by parameter.
 *
 * @example A chain with global-norm clipping cannot be updated in backward
 * ```ts
 * import { adamw, chain, clipByGlobalNorm } from "./mod.ts";
 * import { checkSeparable } from "./separable.ts";
 * import assert from "node:assert/strict";
 *
 * checkSeparable(adamw({ lr: 1e-3 }), "update in backward");
 * assert.throws(() => checkSeparable(chain(clipByGlobalNorm(1), adamw({ lr: 1e-3 })), "update in backward"),
 *   /clipByGlobalNorm/);
 * ```
 */
export function checkSeparable(optimizer: GradientTransform<unknown>, what: string): void {
  const global = globalTransforms(optimizer);
  if (global.length === 0) return;
  throw new TypeError(
    `Cannot ${what}: the optimizer is not separable by parameter: ${global.map((g) => `'${g}'`).join(", ")} ` +
      `needs every gradient at once. Alternatives: clip per parameter instead of by the global norm, ` +
      `drop the global transform, or use the standard step (update: "per-param" falls back to the whole set)`,
  );
}

type Tree = unknown;

function isEmpty(x: Record<string, unknown>): boolean {
  return Object.keys(x).length === 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !(x instanceof tf.Tensor) && !Array.isArray(x) &&
    !ArrayBuffer.isView(x);
}

/**
 * True when `x` is a per-parameter map: a non-empty plain object keyed by parameter names (all of `keys` or some),
 * holding tensors or per-parameter records (plain objects).
 */
function isParamMap(x: unknown, keys: ReadonlySet<string>): x is Record<string, tf.Tensor | Record<string, unknown>> {
  if (!isPlainObject(x)) return false;
  const own = Object.keys(x);
  return own.length > 0 && own.every((k) => keys.has(k) && (x[k] instanceof tf.Tensor || isPlainObject(x[k])));
}

/** Cuts every per-parameter map of `state` to `{ k }`; throws on a tensor outside such a map. */
function slice(state: Tree, keys: ReadonlySet<string>, k: string): Tree {
  if (state instanceof tf.Tensor) {
    throw new TypeError(
      `Cannot update by parameter: the optimizer state holds a tensor of shape [${state.shape}] outside a ` +
        `per-parameter map (a separable transform keeps its tensors in maps keyed by parameter name)`,
    );
  }
  if (isParamMap(state, keys)) return Object.hasOwn(state, k) ? { [k]: state[k] } : {};
  if (Array.isArray(state)) return state.map((s) => slice(s, keys, k));
  if (isPlainObject(state)) {
    return Object.fromEntries(Object.entries(state).map(([n, v]) => [n, slice(v, keys, k)]));
  }
  return state;
}

/**
 * Merges the per-parameter result `part` for `k` into `acc`, walking `old` to find the per-parameter maps; returns the
 * new `acc`. Tensors found at `k` are moved into the map; other leaves are taken from the first part and must agree.
 */
function merge(old: Tree, acc: Tree, part: Tree, keys: ReadonlySet<string>, k: string, first: boolean): Tree {
  if (isParamMap(old, keys)) {
    const p = part as Record<string, unknown> | undefined;
    const has = Object.hasOwn(old, k);
    const ok = isPlainObject(p) &&
      (has ? Object.keys(p).length === 1 && (p[k] instanceof tf.Tensor || isPlainObject(p[k])) : isEmpty(p));
    if (!ok) {
      throw new TypeError(
        has
          ? `Cannot update by parameter: the optimizer returned no per-parameter map for '${k}' where its state has one`
          : `Cannot update by parameter: the optimizer returned state for '${k}' in a map that has none for it`,
      );
    }
    const out = (first ? {} : acc) as Record<string, unknown>;
    if (has) out[k] = p![k];
    return out;
  }
  if (Array.isArray(old)) {
    const a = (first ? new Array(old.length) : acc) as Tree[];
    old.forEach((o, i) => (a[i] = merge(o, a[i], (part as Tree[])[i], keys, k, first)));
    return a;
  }
  if (isPlainObject(old)) {
    const a = (first ? {} : acc) as Record<string, Tree>;
    for (const n of Object.keys(old)) {
      a[n] = merge(old[n], a[n], (part as Record<string, Tree>)[n], keys, k, first);
    }
    return a;
  }
  if (first) return part;
  if (typeof part !== "object" && typeof part !== "function" && !Object.is(part, acc)) {
    throw new TypeError(
      `Cannot update by parameter: the state leaf is ${String(part)} after '${k}' but ${String(acc)} after the ` +
        `other parameters (the transform is not separable by parameter)`,
    );
  }
  return acc;
}

/** Reorders every per-parameter map of `next` (found through `old`) in `order`. */
function reorder(old: Tree, next: Tree, keys: ReadonlySet<string>, order: readonly string[]): Tree {
  if (isParamMap(old, keys)) {
    const n = next as Record<string, unknown>;
    return Object.fromEntries(order.filter((k) => Object.hasOwn(old, k)).map((k) => [k, n[k]]));
  }
  if (Array.isArray(old)) return old.map((o, i) => reorder(o, (next as Tree[])[i], keys, order));
  if (isPlainObject(old)) {
    const n = next as Record<string, Tree>;
    return Object.fromEntries(Object.keys(old).map((k) => [k, reorder(old[k], n[k], keys, order)]));
  }
  return next;
}

/** Disposes the tensors at `k` in the per-parameter maps of `old` that `next` does not hold (by identity). */
function disposeAt(old: Tree, keys: ReadonlySet<string>, k: string, keep: ReadonlySet<tf.Tensor>): void {
  if (isParamMap(old, keys)) {
    if (Object.hasOwn(old, k)) { for (const t of tensorsOf(old[k], new Set())) if (!keep.has(t)) t.dispose(); }
    return;
  }
  if (Array.isArray(old)) { for (const o of old) disposeAt(o, keys, k, keep); }
  else if (isPlainObject(old)) { for (const o of Object.values(old)) disposeAt(o, keys, k, keep); }
}

function tensorsOf(tree: Tree, out: Set<tf.Tensor>): Set<tf.Tensor> {
  if (tree instanceof tf.Tensor) out.add(tree);
  else if (Array.isArray(tree)) { for (const t of tree) tensorsOf(t, out); }
  else if (isPlainObject(tree)) { for (const t of Object.values(tree)) tensorsOf(t, out); }
  return out;
}

/**
 * Runs a separable optimizer one parameter at a time. Each {@linkcode ParamUpdater.update} computes one parameter's
 * update from its gradient and its slice of the state, returns the new parameter `p + u`, and disposes that
 * parameter's old state tensors and the update at once (the old parameter and the gradient stay the caller's).
 * {@linkcode ParamUpdater.finish} returns the merged new state once every parameter is updated. The result equals the
 * full `update` + `applyUpdates` bit for bit: the same ops run per element.
 *
 * An error in `update` leaves the parameters already updated with their old state disposed: the caller must treat
 * the old state as gone.
 *
 * @example One AdamW step, parameter by parameter
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { adamw, disposeState } from "./mod.ts";
 * import { ParamUpdater } from "./separable.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = adamw({ lr: 0.1 });
 * const params = { a: tf.ones([2, 2]), b: tf.ones([2]) };
 * const grads = { a: tf.fill([2, 2], 0.5), b: tf.fill([2], -1) };
 * const state = opt.init(params);
 * const u = new ParamUpdater(opt, state, Object.keys(params));
 * const next = { a: u.update("a", grads.a, params.a), b: u.update("b", grads.b, params.b) };
 * const newState = u.finish();
 * assert.ok(next.a.dataSync()[0] < 1 && next.b.dataSync()[0] > 1);
 * assert.equal(newState[0].count, 1);
 * disposeState([params, grads, next, newState]);
 * ```
 */
export class ParamUpdater<S> {
  readonly #keys: ReadonlySet<string>;
  readonly #order: readonly string[];
  readonly #done = new Set<string>();
  #next: Tree = undefined;

  /**
   * @param optimizer A separable transform (checked with {@linkcode checkSeparable}).
   * @param state Its current state, for the parameters `keys` (its per-parameter tensors are disposed as they are
   *   replaced).
   * @param keys Every parameter name, in the model's order.
   * @param extras Passed to every `update` (the loss, the step).
   * @throws {TypeError} when the optimizer is not separable.
   */
  constructor(
    readonly optimizer: GradientTransform<S>,
    readonly state: S,
    keys: readonly string[],
    readonly extras?: UpdateExtras,
  ) {
    checkSeparable(optimizer as GradientTransform<unknown>, "update parameter by parameter");
    this.#keys = new Set(keys);
    this.#order = keys.slice();
  }

  /** Parameters updated so far. */
  get updated(): ReadonlySet<string> {
    return this.#done;
  }

  /**
   * Updates parameter `k`: returns the new parameter (kept), disposes `k`'s old state tensors and the update, and,
   * with `consume`, the gradient as soon as the optimizer has read it. Never disposes `param`.
   * @throws {RangeError} when `k` is unknown or already updated.
   */
  update(k: string, grad: tf.Tensor, param: tf.Tensor, consume = false): tf.Tensor {
    if (!this.#keys.has(k)) {
      throw new RangeError(`Cannot update parameter '${k}': it is not one of the optimizer's parameters`);
    }
    if (this.#done.has(k)) throw new RangeError(`Cannot update parameter '${k}': it was already updated this step`);
    const g: Grads = { [k]: grad }, p: Params = { [k]: param };
    const r = this.optimizer.update(g, slice(this.state, this.#keys, k) as S, p, this.extras);
    let next: tf.Tensor;
    try {
      this.#next = merge(this.state, this.#next, r.state, this.#keys, k, this.#done.size === 0);
    } catch (e) {
      tf.dispose([...tensorsOf(r.state, new Set()), ...Object.values(r.updates)]);
      throw e;
    }
    this.#done.add(k);
    // The old state tensors (and, when consumed, the gradient) go before the new value is built: a smaller peak.
    disposeAt(this.state, this.#keys, k, tensorsOf(r.state, new Set()));
    if (consume) grad.dispose();
    try {
      next = tf.keep(tf.add(param, r.updates[k]));
    } finally {
      for (const t of Object.values(r.updates)) t.dispose();
    }
    return next;
  }

  /**
   * The new state, once every parameter is updated.
   * @throws {RangeError} naming a parameter that was not updated.
   */
  finish(): S {
    const missing = this.#order.find((k) => !this.#done.has(k));
    if (missing !== undefined) {
      throw new RangeError(
        `Cannot finish the update: parameter '${missing}' got no gradient (${this.#done.size} of ` +
          `${this.#order.length} updated)`,
      );
    }
    if (this.#order.length === 0) return this.optimizer.update({}, this.state, {}, this.extras).state;
    return reorder(this.state, this.#next, this.#keys, this.#order) as S;
  }
}
