/**
 * Adam and AdamW as optax-style recipes: `adamw = chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)`.
 *
 * References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", https://arxiv.org/abs/1412.6980;
 * Loshchilov & Hutter, "Decoupled Weight Decay Regularization", https://arxiv.org/abs/1711.05101.
 * Memory: Adam keeps two moments, i.e. 2x the parameter bytes of optimizer state (SGD with momentum keeps 1x).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import {
  checkCount,
  checkDecay,
  checkFunction,
  checkLearningRate,
  checkNonNegative,
  checkSameKeys,
  show,
} from "./_validate.ts";
import { mapKept, zerosLikeKept } from "./_tree.ts";
import type { Schedule } from "./schedule.ts";
import { adamBiasCorrection, adamFusable as fusable, adamUpdate } from "./adam_kernel.ts";
import { chain, type EmptyState, type GradientTransform, type UpdateExtras } from "./transform.ts";

/** Options for {@linkcode scaleByAdam}. */
export interface ScaleByAdamOptions {
  /** Decay rate of the first moment, in [0, 1). @default {0.9} */
  b1?: number;
  /** Decay rate of the second moment, in [0, 1). @default {0.999} */
  b2?: number;
  /** Added to the root of the (bias-corrected) second moment, >= 0. @default {1e-8} */
  eps?: number;
}

/** State of {@linkcode scaleByAdam}: the update count and the two moments, keyed like the params. */
export interface ScaleByAdamState {
  /** Updates done so far. */
  readonly count: number;
  /** First moment (running mean of the gradients). */
  readonly mu: Params;
  /** Second moment (running mean of the squared gradients). */
  readonly nu: Params;
}

/**
 * Runs `step` for each parameter key, keeping the new first and second moments and the update it returns; if a step
 * throws, frees what earlier steps made and rethrows (the state passed in is left as it was).
 */
function perParam(
  keys: readonly string[],
  step: (k: string, i: number) => tf.Tensor[],
): { mu: Params; nu: Params; updates: Params } {
  const mu: Params = {}, nu: Params = {}, updates: Params = {};
  try {
    keys.forEach((k, i) => {
      const [m, v, u] = step(k, i);
      mu[k] = tf.keep(m);
      nu[k] = tf.keep(v);
      updates[k] = tf.keep(u);
    });
  } catch (e) {
    tf.dispose([...Object.values(mu), ...Object.values(nu), ...Object.values(updates)]);
    throw e;
  }
  return { mu, nu, updates };
}

/**
 * Rescales updates by Adam's rule, with bias correction and no learning rate:
 * `mu = b1 mu + (1-b1) g`, `nu = b2 nu + (1-b2) g^2`, `u = mû / (sqrt(nû) + eps)` where `mû = mu / (1-b1^t)` and
 * `nû = nu / (1-b2^t)` at step t = count + 1. Computed as `(sqrt(1-b2^t) / (1-b1^t)) mu / (sqrt(nu) + eps
 * sqrt(1-b2^t))`, the same value with fewer elementwise ops (`adamBiasCorrection`, shared with the fused update), as
 * one `adamUpdate` per parameter (the fused `MemtrainAdam` kernel on wasm/blas, else tfjs ops).
 *
 * @param options Decay rates and epsilon.
 * @returns A transform with state {@linkcode ScaleByAdamState}.
 * @throws {RangeError} when `b1`/`b2` are outside [0, 1) or `eps` is negative.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { scaleByAdam } from "./adam.ts";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const t = scaleByAdam();
 * const g = { w: tf.tensor1d([0.5, -2]) };
 * const s0 = t.init(g);
 * const { updates, state } = t.update(g, s0);
 * // The first bias-corrected Adam step is sign(g) (up to eps).
 * assert.deepEqual(Array.from(updates.w.dataSync()).map(Math.round), [1, -1]);
 * assert.equal(state.count, 1);
 * disposeState([g, s0, updates, state]);
 * ```
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransform<ScaleByAdamState> {
  const fn = "scaleByAdam";
  const b1 = checkDecay(fn, "b1", options.b1 ?? 0.9);
  const b2 = checkDecay(fn, "b2", options.b2 ?? 0.999);
  const eps = checkNonNegative(fn, "eps", options.eps ?? 1e-8);
  return {
    name: fn,
    separable: true,
    init: (params) => ({ count: 0, mu: zerosLikeKept(params), nu: zerosLikeKept(params) }),
    update(grads, state) {
      const count = checkCount(fn, state) + 1;
      checkSameKeys(`update ${fn}`, "grads", grads, "state.mu", state.mu);
      checkSameKeys(`update ${fn}`, "grads", grads, "state.nu", state.nu);
      const attrs = { b1, b2, ...adamBiasCorrection(b1, b2, eps, count), scale: 1, wd: 0 };
      const { mu, nu, updates } = perParam(
        Object.keys(grads),
        (k) => adamUpdate(grads[k], state.mu[k], state.nu[k], undefined, attrs),
      );
      return { updates, state: { count, mu, nu } };
    },
  };
}

/**
 * The default weight-decay mask: decays matrices and higher-rank weights, and skips biases and normalization
 * parameters. Returns `false` (no decay) when the parameter is 0-D or 1-D, its name ends in `.b` or `.bias`, or its
 * lower-cased name contains `ln` or `norm`.
 *
 * @param name The parameter's path, e.g. `"blocks.0.mlp.fc1.w"`.
 * @param param The parameter tensor (only its rank is read).
 * @returns Whether the parameter gets weight decay.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { defaultDecayMask } from "./adam.ts";
 * import assert from "node:assert/strict";
 *
 * const w = tf.zeros([2, 2]);
 * assert.equal(defaultDecayMask("fc.w", w), true);
 * assert.equal(defaultDecayMask("fc.b", w), false);
 * assert.equal(defaultDecayMask("blocks.0.ln1.g", w), false);
 * w.dispose();
 * ```
 */
export function defaultDecayMask(name: string, param?: tf.Tensor): boolean {
  if (param !== undefined && param.rank <= 1) return false;
  const lower = name.toLowerCase();
  return !(name.endsWith(".b") || name.endsWith(".bias") || lower.includes("ln") || lower.includes("norm"));
}

/** Options for {@linkcode addDecayedWeights}. */
export interface AddDecayedWeightsOptions {
  /** Decay coefficient, >= 0 (0 passes updates through). */
  weightDecay: number;
  /**
   * Which parameters get decay, by name (and tensor). @default {defaultDecayMask} (no decay for biases, norms and
   * 0-D/1-D parameters)
   */
  mask?: (name: string, param: tf.Tensor) => boolean;
}

/**
 * Adds `weightDecay * param` to the updates of the parameters `mask` selects (decoupled weight decay when placed
 * after `scaleByAdam`, L2 regularization when placed before it). Needs `params` in `update`.
 *
 * @param options The decay coefficient and the mask.
 * @returns A stateless transform.
 * @throws {RangeError} when `weightDecay` is negative; {TypeError} when `mask` is not a function, or (in `update`)
 * when `params` is missing.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { addDecayedWeights } from "./adam.ts";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { "fc.w": tf.ones([1, 2]), "fc.b": tf.ones([2]) };
 * const grads = { "fc.w": tf.zeros([1, 2]), "fc.b": tf.zeros([2]) };
 * const { updates } = addDecayedWeights({ weightDecay: 0.1 }).update(grads, {}, params);
 * assert.deepEqual(Array.from(updates["fc.w"].dataSync()), [0.1, 0.1].map(Math.fround));
 * assert.deepEqual(Array.from(updates["fc.b"].dataSync()), [0, 0]); // biases are not decayed
 * disposeState([params, grads, updates]);
 * ```
 */
export function addDecayedWeights(options: AddDecayedWeightsOptions): GradientTransform<EmptyState> {
  const fn = "addDecayedWeights";
  const weightDecay = checkNonNegative(fn, "weightDecay", options?.weightDecay);
  const mask = checkFunction<(name: string, param: tf.Tensor) => boolean>(
    fn,
    "mask",
    options.mask ?? defaultDecayMask,
  );
  return {
    name: fn,
    separable: true,
    init: () => ({}),
    update(grads, _state, params) {
      if (params === undefined) {
        throw new TypeError(`Cannot update ${fn}: 'params' is required: current value is ${show(params)}`);
      }
      checkSameKeys(`update ${fn}`, "grads", grads, "params", params);
      const updates = mapKept(grads, (k) => {
        if (weightDecay === 0 || !mask(k, params[k])) return tf.clone(grads[k]);
        return tf.add(grads[k], tf.mul(params[k], weightDecay));
      });
      return { updates, state: {} };
    },
  };
}

/** State of {@linkcode scaleByLearningRate}: updates done so far (the step its schedule is evaluated at). */
export interface ScaleByLearningRateState {
  /** Updates done so far. */
  readonly count: number;
}

/**
 * Multiplies updates by `-lr` (the minus sign makes updates something to ADD to the params, as `applyUpdates` does).
 * With a {@linkcode Schedule}, the rate is `lr(count)`: `lr(0)` on the first update.
 *
 * @param lr A positive learning rate, or a schedule.
 * @returns A transform with state {@linkcode ScaleByLearningRateState}.
 * @throws {RangeError} when a numeric `lr` is not a positive finite number, or (in `update`) when the schedule
 * returns a negative or non-finite value; {TypeError} when `lr` is neither a number nor a function.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { scaleByLearningRate } from "./adam.ts";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const g = { w: tf.tensor1d([2]) };
 * const { updates } = scaleByLearningRate(0.5).update(g, { count: 0 });
 * assert.deepEqual(Array.from(updates.w.dataSync()), [-1]);
 * disposeState([g, updates]);
 * ```
 */
export function scaleByLearningRate(lr: number | Schedule): GradientTransform<ScaleByLearningRateState> {
  const rate = checkLearningRate("scaleByLearningRate", "lr", lr);
  return {
    name: "scaleByLearningRate",
    separable: true,
    init: () => ({ count: 0 }),
    update(grads, state) {
      const count = checkCount("scaleByLearningRate", state);
      const value = typeof rate === "number" ? rate : rate(count);
      if (typeof value !== "number" || !(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(
          `Cannot update scaleByLearningRate: the schedule must return a non-negative number: current value is ` +
            `${show(value)} at step ${count}`,
        );
      }
      const updates = mapKept(grads, (k) => tf.mul(grads[k], -value));
      return { updates, state: { count: count + 1 } };
    },
  };
}

/** Options for {@linkcode adamw}. */
export interface AdamwOptions extends ScaleByAdamOptions {
  /** Learning rate: a positive number or a schedule. */
  lr: number | Schedule;
  /** Decoupled weight decay coefficient, >= 0. @default {0.01} */
  weightDecay?: number;
  /** Which parameters get weight decay. @default {defaultDecayMask} */
  mask?: (name: string, param: tf.Tensor) => boolean;
}

/** State of {@linkcode adamw}: `[adam, decay, lr]` child states. */
export type AdamwState = [ScaleByAdamState, EmptyState, ScaleByLearningRateState];

/**
 * AdamW: Adam with decoupled weight decay, `chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)`. The step is
 * `p -= lr * (mû / (sqrt(nû) + eps) + weightDecay * p)` (decay only where `mask` says).
 *
 * @param options Learning rate, Adam's decay rates and epsilon, weight decay and its mask.
 * @returns The optimizer; `update` needs `params`.
 * @throws {RangeError} for out-of-range hyperparameters (checked here, before any tensor exists); {TypeError} for
 * wrong types.
 *
 * @example Usage
 * ```ts
 * import { adamw } from "./adam.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = adamw({ lr: 3e-4, weightDecay: 0.1 });
 * assert.throws(() => adamw({ lr: -1 }), RangeError);
 * assert.equal(opt.init({})[0].count, 0);
 * ```
 */
export function adamw(options: AdamwOptions): GradientTransform<AdamwState> {
  const fn = "adamw";
  const lr = checkLearningRate(fn, "lr", options?.lr);
  const b1 = checkDecay(fn, "b1", options.b1 ?? 0.9);
  const b2 = checkDecay(fn, "b2", options.b2 ?? 0.999);
  const eps = checkNonNegative(fn, "eps", options.eps ?? 1e-8);
  const weightDecay = checkNonNegative(fn, "weightDecay", options.weightDecay ?? 0.01);
  const mask = checkFunction<AdamwOptions["mask"]>(fn, "mask", options.mask ?? defaultDecayMask)!;
  const base = chain(
    scaleByAdam({ b1, b2, eps }),
    addDecayedWeights({ weightDecay, mask }),
    scaleByLearningRate(lr),
  );
  return withFusedUpdate(base, { b1, b2, eps, lr, decay: { weightDecay, mask } });
}

/** Options for {@linkcode adam}. */
export interface AdamOptions extends ScaleByAdamOptions {
  /** Learning rate: a positive number or a schedule. */
  lr: number | Schedule;
}

/**
 * Adam without weight decay: `chain(scaleByAdam, scaleByLearningRate)`.
 *
 * @param options Learning rate, decay rates and epsilon.
 * @returns The optimizer.
 * @throws {RangeError} for out-of-range hyperparameters; {TypeError} for wrong types.
 *
 * @example Usage
 * ```ts
 * import { adam } from "./adam.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(adam({ lr: 1e-3 }).init({}).length, 2);
 * ```
 */
export function adam(options: AdamOptions): GradientTransform<[ScaleByAdamState, ScaleByLearningRateState]> {
  const fn = "adam";
  const lr = checkLearningRate(fn, "lr", options?.lr);
  const b1 = checkDecay(fn, "b1", options.b1 ?? 0.9);
  const b2 = checkDecay(fn, "b2", options.b2 ?? 0.999);
  const eps = checkNonNegative(fn, "eps", options.eps ?? 1e-8);
  return withFusedUpdate(chain(scaleByAdam({ b1, b2, eps }), scaleByLearningRate(lr)), { b1, b2, eps, lr });
}

function sameKeys(a: Record<string, unknown>, b: unknown): boolean {
  if (b === null || typeof b !== "object") return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k));
}

interface FusedAdamOptions {
  b1: number;
  b2: number;
  eps: number;
  lr: number | Schedule;
  /** For adamw: the decoupled weight decay (state `[adam, {}, lr]`); without it the state is `[adam, lr]`. */
  decay?: { weightDecay: number; mask: (name: string, param: tf.Tensor) => boolean };
}

/**
 * `base` (the adam or adamw chain) with a one-pass update: when the fused Adam kernel is active (`adamUpdate.active()`)
 * and the inputs are what `init` made, each parameter's moments and final update `-lr·(adam + decay)` come from one
 * `MemtrainAdam` kernel (`adam_kernel.ts`),
 * with the state laid out exactly as the chain's. Anything unusual (a foreign state, missing params, a bad schedule
 * value, other dtypes) runs the chain itself, which gives the usual errors.
 */
function withFusedUpdate<S>(base: GradientTransform<S>, o: FusedAdamOptions): GradientTransform<S> {
  const parts = o.decay ? 3 : 2;
  return {
    name: o.decay ? "adamw" : "adam",
    separable: base.separable,
    ...(base.children ? { children: base.children } : {}),
    init: (params) => base.init(params),
    update(grads: Params, state: S, params?: Params, extras?: UpdateExtras) {
      if (!adamUpdate.active() || !Array.isArray(state) || state.length !== parts) {
        return base.update(grads, state, params, extras);
      }
      const adamState = state[0] as Partial<ScaleByAdamState> | undefined;
      const lrState = state[parts - 1] as Partial<ScaleByLearningRateState> | undefined;
      const adamCount = adamState?.count, lrCount = lrState?.count;
      if (
        typeof adamCount !== "number" || typeof lrCount !== "number" || !sameKeys(grads, adamState!.mu) ||
        !sameKeys(grads, adamState!.nu) || (o.decay && !sameKeys(grads, params))
      ) {
        return base.update(grads, state, params, extras);
      }
      const lr = typeof o.lr === "number" ? o.lr : o.lr(lrCount);
      if (typeof lr !== "number" || !(Number.isFinite(lr) && lr >= 0)) return base.update(grads, state, params, extras);
      const { mu: mu0, nu: nu0 } = adamState as ScaleByAdamState;
      const wdOf = (k: string) =>
        o.decay && o.decay.weightDecay !== 0 && o.decay.mask(k, params![k]) ? o.decay.weightDecay : 0;
      const keys = Object.keys(grads);
      const wd = keys.map(wdOf);
      if (!keys.every((k, i) => fusable(grads[k], mu0[k], nu0[k], ...(wd[i] !== 0 ? [params![k]] : [])))) {
        return base.update(grads, state, params, extras);
      }
      const count = adamCount + 1;
      const common = { b1: o.b1, b2: o.b2, ...adamBiasCorrection(o.b1, o.b2, o.eps, count) };
      const { mu, nu, updates } = perParam(keys, (k, i) => {
        const p = wd[i] !== 0 ? params![k] : undefined;
        return adamUpdate(grads[k], mu0[k], nu0[k], p, { ...common, scale: -lr, wd: wd[i] });
      });
      const adam: ScaleByAdamState = { count, mu, nu };
      const lrNext: ScaleByLearningRateState = { count: lrCount + 1 };
      return { updates, state: (o.decay ? [adam, {}, lrNext] : [adam, lrNext]) as S };
    },
  };
}
