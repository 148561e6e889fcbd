/**
 * The optimizer contract: a {@linkcode GradientTransform} is a pair of functions, `init` and `update`, over plain
 * state data (after optax's `GradientTransformation`). Optimizers are recipes built with {@linkcode chain}, not
 * classes.
 *
 * ## Ownership (TF.js has no garbage collector for tensors)
 *
 * - `init(params)` returns new tensors; it does not take ownership of `params`.
 * - `update(grads, state, params?, extras?)` **never disposes its inputs** (`grads`, `state`, `params`). It returns
 *   **new** tensors: every tensor in `updates` and in the new `state` is a fresh handle, never one of the inputs and
 *   never shared between `updates` and `state` (an unchanged tensor is passed on as `tf.clone(t)`, which shares the
 *   buffer and costs no copy). Results are `tf.keep`-ed, so they survive a `tf.tidy` the caller may be in.
 * - The caller owns everything `update` returned and everything it passed in: after an update it disposes the old
 *   state ({@linkcode disposeState}) and the grads, and hands `updates` to `applyUpdates`, which disposes them together
 *   with the old parameters.
 * - Inside {@linkcode chain}, the updates one child produces and the next child consumes are disposed by the chain;
 *   the caller's `grads` are left alone.
 *
 * @example A training step
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import assert from "node:assert/strict";
 * import { adamw } from "./adam.ts";
 * import { applyUpdates } from "./apply.ts";
 * import { disposeState } from "./transform.ts";
 * import { disposeTree } from "../nn/params.ts";
 *
 * await tf.setBackend("cpu");
 * const before = tf.memory().numTensors;
 * let params = { w: tf.tensor1d([1, 2]) };
 * const opt = adamw({ lr: 0.1 });
 * let state = opt.init(params);
 * for (let i = 0; i < 3; i++) {
 *   const grads = { w: tf.mul(params.w, 2) }; // gradient of sum(w^2)
 *   const { updates, state: next } = opt.update(grads, state, params);
 *   disposeTree(grads);
 *   disposeState(state);
 *   state = next;
 *   params = applyUpdates(params, updates);
 * }
 * disposeState(state);
 * disposeTree(params);
 * assert.equal(tf.memory().numTensors, before);
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads, Params, Updates } from "../nn/params.ts";
import { cloneKept } from "./_tree.ts";
import { show } from "./_validate.ts";

/** Extra, optional inputs to {@linkcode GradientTransform.update}; `chain` passes them to every child. */
export interface UpdateExtras {
  /** The loss at the current parameters (for loss-driven methods such as MeZO or Polyak step sizes). */
  loss?: number;
  /** The global training step, when the caller tracks one (transforms keep their own `count` in state). */
  step?: number;
  /** Anything else a transform documents that it reads. */
  [key: string]: unknown;
}

/** What {@linkcode GradientTransform.update} returns: the transformed updates and the next state. */
export interface TransformResult<S> {
  /** Updates shaped like the params, fresh tensors owned by the caller. */
  updates: Updates;
  /** The next state, fresh tensors owned by the caller. */
  state: S;
}

/**
 * An optimizer building block: pure functions over plain state (see the module docs for who disposes what).
 *
 * @typeParam S The state type, plain data (objects, arrays, numbers and tensors).
 */
export interface GradientTransform<S> {
  /**
   * Makes the initial state for `params` (does not take ownership of them).
   *
   * @param params The parameters to be optimized.
   * @returns The initial state.
   */
  init(params: Params): S;
  /**
   * Transforms `grads` (or the updates of an earlier transform) into updates, without disposing any input.
   *
   * @param grads Gradients, or updates from the previous transform in a chain.
   * @param state The current state, from `init` or the previous `update`.
   * @param params The current parameters; required by transforms that say so (e.g. `addDecayedWeights`).
   * @param extras Optional inputs such as the loss.
   * @returns New updates and the new state.
   */
  update(grads: Grads, state: S, params?: Params, extras?: UpdateExtras): TransformResult<S>;
  /**
   * True when the transform is separable by parameter: updating one parameter with its slice of the state (the
   * per-parameter maps cut to that key, see `lib/optim/separable.ts`) gives that parameter's part of the full update,
   * so a step may run it parameter by parameter (update in backward, in-place updates). Unset means global (e.g.
   * `clipByGlobalNorm`, which needs every gradient). {@linkcode chain} is separable when all its children are.
   */
  readonly separable?: boolean;
  /** A readable name for messages, e.g. `"clipByGlobalNorm"`. */
  readonly name?: string;
  /** The children of a {@linkcode chain} or {@linkcode namedChain}, for messages that name the global one. */
  readonly children?: readonly GradientTransform<unknown>[];
}

/** The state of a stateless transform. */
export type EmptyState = Record<string, never>;

/** The state of a {@linkcode chain}: the tuple of its children's states. */
export type ChainState<T extends readonly GradientTransform<unknown>[]> = {
  -readonly [K in keyof T]: T[K] extends GradientTransform<infer S> ? S : never;
};

function checkTransform(fn: string, label: string, t: unknown): void {
  const ok = t !== null && typeof t === "object" &&
    typeof (t as GradientTransform<unknown>).init === "function" &&
    typeof (t as GradientTransform<unknown>).update === "function";
  if (!ok) {
    throw new TypeError(`Cannot create ${fn}: ${label} must be a GradientTransform: current value is ${show(t)}`);
  }
}

/** Runs `children` in order; disposes intermediates (and, on error, everything it made). */
function runChain(
  children: readonly GradientTransform<unknown>[],
  states: readonly unknown[],
  grads: Grads,
  params: Params | undefined,
  extras: UpdateExtras | undefined,
): { updates: Updates; states: unknown[] } {
  let current: Updates = grads;
  const next: unknown[] = [];
  try {
    for (let i = 0; i < children.length; i++) {
      const r = children[i].update(current, states[i], params, extras);
      next.push(r.state);
      if (current !== grads) {
        // Dispose the intermediate updates, except tensors a (contract-breaking) child passed through unchanged.
        const passed = new Set(Object.values(r.updates));
        for (const t of Object.values(current)) if (!passed.has(t)) t.dispose();
      }
      current = r.updates;
    }
  } catch (e) {
    if (current !== grads) { for (const t of Object.values(current)) t.dispose(); }
    for (const s of next) disposeState(s);
    throw e;
  }
  return { updates: current === grads ? cloneKept(grads) : current, states: next };
}

/**
 * Composes transforms: `update` feeds the updates through each child in order, and the state is the tuple of the
 * children's states. Intermediate updates are disposed by the chain.
 *
 * @typeParam T The child transforms' types.
 * @param transforms The transforms, applied first to last.
 * @returns A transform whose state is `[state0, state1, ...]`.
 * @throws {TypeError} when a child is not a transform, or (in `update`) when the state is not a matching tuple.
 *
 * @example Clip, then Adam, then scale by the learning rate
 * ```ts
 * import { chain } from "./transform.ts";
 * import { clipByGlobalNorm } from "./clip.ts";
 * import { scaleByAdam, scaleByLearningRate } from "./adam.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3));
 * const state = opt.init({});
 * assert.equal(state.length, 3);
 * ```
 */
export function chain<const T extends readonly GradientTransform<unknown>[]>(
  ...transforms: T
): GradientTransform<ChainState<T>> {
  transforms.forEach((t, i) => checkTransform("chain", `transform ${i}`, t));
  const children = [...transforms];
  return {
    name: "chain",
    separable: children.every((t) => t.separable === true),
    children,
    init(params) {
      return initAll(children, params) as ChainState<T>;
    },
    update(grads, state, params, extras) {
      if (!Array.isArray(state) || state.length !== children.length) {
        const got = Array.isArray(state) ? `an array of length ${state.length}` : show(state);
        throw new TypeError(
          `Cannot update chain: 'state' must be an array of ${children.length} child states (call init() first): ` +
            `current value is ${got}`,
        );
      }
      const r = runChain(children, state, grads, params, extras);
      return { updates: r.updates, state: r.states as ChainState<T> };
    },
  };
}

/** Initializes every child in order; if one throws, disposes the states already made. */
function initAll(children: readonly GradientTransform<unknown>[], params: Params): unknown[] {
  const states: unknown[] = [];
  try {
    for (const t of children) states.push(t.init(params));
  } catch (e) {
    for (const s of states) disposeState(s);
    throw e;
  }
  return states;
}

/**
 * Like {@linkcode chain}, but the state is an object keyed by the given names (in insertion order), so one child's
 * state can be looked up directly, e.g. `state.adam.count`.
 *
 * @typeParam T The named child transforms' types.
 * @param transforms The transforms by name, applied in insertion order.
 * @returns A transform whose state is `{ name: childState, ... }`.
 * @throws {TypeError} when a child is not a transform, or (in `update`) when the state lacks a child's entry.
 *
 * @example Usage
 * ```ts
 * import { namedChain } from "./transform.ts";
 * import { scaleByAdam, scaleByLearningRate } from "./adam.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = namedChain({ adam: scaleByAdam(), lr: scaleByLearningRate(0.01) });
 * const state = opt.init({});
 * assert.equal(state.adam.count, 0);
 * ```
 */
export function namedChain<const T extends Record<string, GradientTransform<unknown>>>(
  transforms: T,
): GradientTransform<{ -readonly [K in keyof T]: T[K] extends GradientTransform<infer S> ? S : never }> {
  type S = { -readonly [K in keyof T]: T[K] extends GradientTransform<infer S> ? S : never };
  if (transforms === null || typeof transforms !== "object") {
    throw new TypeError(
      `Cannot create namedChain: 'transforms' must be an object: current value is ${show(transforms)}`,
    );
  }
  const names = Object.keys(transforms);
  for (const n of names) checkTransform("namedChain", `transform '${n}'`, transforms[n]);
  const children = names.map((n) => transforms[n]);
  const pack = (states: unknown[]) => Object.fromEntries(names.map((n, i) => [n, states[i]])) as S;
  return {
    name: "namedChain",
    separable: children.every((t) => t.separable === true),
    children,
    init(params) {
      return pack(initAll(children, params));
    },
    update(grads, state, params, extras) {
      const missing = state === null || typeof state !== "object" ? names[0] : names.find((n) => !(n in state));
      if (missing !== undefined) {
        throw new TypeError(
          `Cannot update namedChain: 'state' has no entry for '${missing}' (call init() first): ` +
            `current value is ${show(state)}`,
        );
      }
      const s = state as Record<string, unknown>;
      const r = runChain(children, names.map((n) => s[n]), grads, params, extras);
      return { updates: r.updates, state: pack(r.states) };
    },
  };
}

/**
 * The transform that changes nothing: updates are the grads (as new handles, so the caller may dispose both).
 *
 * @returns A stateless transform.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { identity } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const g = { w: tf.tensor1d([1, 2]) };
 * const { updates } = identity().update(g, {});
 * assert.deepEqual(Array.from(updates.w.dataSync()), [1, 2]);
 * assert.notEqual(updates.w, g.w);
 * tf.dispose([g.w, updates.w]);
 * ```
 */
export function identity(): GradientTransform<EmptyState> {
  return {
    name: "identity",
    separable: true,
    init: () => ({}),
    update: (grads) => ({ updates: cloneKept(grads), state: {} }),
  };
}

/** Calls `visit` on every distinct tensor in a state tree (objects and arrays, cycles allowed). */
function forEachTensor(state: unknown, visit: (t: tf.Tensor) => void): void {
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== "object" || seen.has(x)) return;
    seen.add(x);
    if (x instanceof tf.Tensor) visit(x);
    else if (Array.isArray(x)) { for (const v of x) walk(v); }
    else if (!ArrayBuffer.isView(x)) { for (const v of Object.values(x)) walk(v); }
  };
  walk(state);
}

/**
 * Disposes every tensor in a state tree: any nesting of objects and arrays (numbers and other data are skipped).
 *
 * @param state A transform state, or any tree of tensors.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const state = { count: 1, mu: { w: tf.zeros([2]) }, parts: [tf.ones([3])] };
 * disposeState(state);
 * assert.ok(state.mu.w.isDisposed && state.parts[0].isDisposed);
 * ```
 */
export function disposeState(state: unknown): void {
  forEachTensor(state, (t) => t.dispose());
}

/**
 * Bytes held by the tensors of a state tree, counting each buffer once (clones share buffers). Use it to compare
 * optimizer memory, e.g. Adam's two moments against SGD's one.
 *
 * @param state A transform state, or any tree of tensors.
 * @returns Bytes of distinct tensor buffers (4 per float32/int32 element, 1 per bool).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { scaleByAdam } from "./adam.ts";
 * import { disposeState, stateBytes } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { w: tf.zeros([10, 10]) };
 * const state = scaleByAdam().init(params);
 * assert.equal(stateBytes(state), 2 * 100 * 4); // mu and nu
 * disposeState(state);
 * params.w.dispose();
 * ```
 */
export function stateBytes(state: unknown): number {
  const buffers = new Set<unknown>();
  let bytes = 0;
  forEachTensor(state, (t) => {
    if (t.isDisposed || buffers.has(t.dataId)) return;
    buffers.add(t.dataId);
    bytes += t.size * (t.dtype === "bool" ? 1 : t.dtype === "complex64" ? 8 : 4);
  });
  return bytes;
}

/**
 * Disposes every tensor of the `previous` tree that the `next` tree does not hold (by identity): how an owner frees
 * the old parameters or state after a step that may reuse some tensors. Tensors already disposed are skipped.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { disposeReplaced } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const kept = tf.ones([2]), old = tf.zeros([2]);
 * const next = { a: kept, b: tf.ones([3]) };
 * disposeReplaced({ a: kept, b: old }, next);
 * assert.ok(old.isDisposed && !kept.isDisposed);
 * tf.dispose(Object.values(next));
 * ```
 */
export function disposeReplaced(previous: unknown, next: unknown): void {
  const live = new Set<tf.Tensor>();
  forEachTensor(next, (t) => live.add(t));
  forEachTensor(previous, (t) => {
    if (!live.has(t) && !t.isDisposed) t.dispose();
  });
}
