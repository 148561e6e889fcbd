/**
 * Stochastic gradient descent with optional (Nesterov) momentum and weight decay, as optax-style recipes.
 *
 * Reference: Sutskever et al., "On the importance of initialization and momentum in deep learning" (ICML 2013).
 * Memory: momentum keeps one trace, 1x the parameter bytes (plain SGD keeps nothing).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import {
  checkBoolean,
  checkDecay,
  checkFunction,
  checkLearningRate,
  checkNonNegative,
  checkSameKeys,
} from "./_validate.ts";
import { zerosLikeKept } from "./_tree.ts";
import { addDecayedWeights, defaultDecayMask, scaleByLearningRate } from "./adam.ts";
import type { Schedule } from "./schedule.ts";
import { chain, type GradientTransform } from "./transform.ts";

/** Options for {@linkcode scaleByMomentum}. */
export interface ScaleByMomentumOptions {
  /** Decay of the trace, in [0, 1). */
  momentum: number;
  /** Use Nesterov momentum (`g + momentum * trace`) instead of the trace itself. @default {false} */
  nesterov?: boolean;
}

/** State of {@linkcode scaleByMomentum}: the momentum trace, keyed like the params. */
export interface ScaleByMomentumState {
  /** Running sum `trace = g + momentum * trace`, zeros at init. */
  readonly trace: Params;
}

function momentumOptions(fn: string, momentum: unknown, nesterov: unknown): void {
  checkDecay(fn, "momentum", momentum);
  if (checkBoolean(fn, "nesterov", nesterov) && momentum === 0) {
    throw new RangeError(`Cannot create ${fn}: 'nesterov' needs a positive 'momentum': current value is 0`);
  }
}

/**
 * Heavy-ball momentum (as PyTorch's SGD, no dampening): `trace = g + momentum * trace`; the update is `trace`, or
 * `g + momentum * trace` with `nesterov`. No learning rate.
 *
 * @param options The momentum and whether to use Nesterov's variant.
 * @returns A transform with state {@linkcode ScaleByMomentumState}.
 * @throws {RangeError} when `momentum` is outside [0, 1), or `nesterov` is set with zero momentum; {TypeError} when
 * `nesterov` is not a boolean.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { scaleByMomentum } from "./sgd.ts";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const t = scaleByMomentum({ momentum: 0.5 });
 * const g = { w: tf.tensor1d([1]) };
 * const s0 = t.init(g);
 * const r1 = t.update(g, s0);
 * const r2 = t.update(g, r1.state);
 * assert.deepEqual(Array.from(r2.updates.w.dataSync()), [1.5]); // 1 + 0.5 * 1
 * disposeState([g, s0, r1, r2]);
 * ```
 */
export function scaleByMomentum(options: ScaleByMomentumOptions): GradientTransform<ScaleByMomentumState> {
  const fn = "scaleByMomentum";
  const momentum = options?.momentum;
  const nesterov = options.nesterov ?? false;
  momentumOptions(fn, momentum, nesterov);
  return {
    name: fn,
    separable: true,
    init: (params) => ({ trace: zerosLikeKept(params) }),
    update(grads, state) {
      checkSameKeys(`update ${fn}`, "grads", grads, "state.trace", state?.trace);
      const trace: Params = {}, updates: Params = {};
      try {
        for (const k of Object.keys(grads)) {
          const g = grads[k];
          const [t, u] = tf.tidy(() => {
            const t = tf.add(g, tf.mul(state.trace[k], momentum));
            // Updates and state must not share a tensor: the caller disposes them separately.
            return [t, nesterov ? tf.add(g, tf.mul(t, momentum)) : tf.clone(t)];
          });
          trace[k] = tf.keep(t);
          updates[k] = tf.keep(u);
        }
      } catch (e) {
        tf.dispose([...Object.values(trace), ...Object.values(updates)]);
        throw e;
      }
      return { updates, state: { trace } };
    },
  };
}

/** Options for {@linkcode sgd}. */
export interface SgdOptions {
  /** Learning rate: a positive number or a schedule. */
  lr: number | Schedule;
  /** Momentum in [0, 1); 0 means plain SGD with no state. @default {0} */
  momentum?: number;
  /** Nesterov momentum (needs `momentum > 0`). @default {false} */
  nesterov?: boolean;
  /** L2 weight decay, added to the gradient before momentum (as PyTorch's SGD). @default {0} */
  weightDecay?: number;
  /** Which parameters get weight decay. @default {defaultDecayMask} */
  mask?: (name: string, param: tf.Tensor) => boolean;
}

/**
 * SGD: `chain(addDecayedWeights?, scaleByMomentum?, scaleByLearningRate)`, where the first two are present only
 * when `weightDecay > 0` and `momentum > 0`. The step is `p -= lr * u` with `u` the (momentum) update of
 * `g + weightDecay * p`. `update` needs `params` when `weightDecay > 0`.
 *
 * @param options Learning rate, momentum, Nesterov, weight decay and its mask.
 * @returns The optimizer; its state is the tuple of the children present.
 * @throws {RangeError} for out-of-range hyperparameters (checked here, before any tensor exists); {TypeError} for
 * wrong types.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { sgd } from "./sgd.ts";
 * import { applyUpdates } from "./apply.ts";
 * import { disposeState } from "./transform.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = sgd({ lr: 0.1 });
 * let params = { w: tf.tensor1d([1]) };
 * const state = opt.init(params);
 * const grads = { w: tf.tensor1d([2]) };
 * const { updates, state: next } = opt.update(grads, state, params);
 * params = applyUpdates(params, updates);
 * assert.ok(Math.abs(params.w.dataSync()[0] - 0.8) < 1e-6);
 * disposeState([params, grads, state, next]);
 * ```
 */
export function sgd(options: SgdOptions): GradientTransform<unknown[]> {
  const fn = "sgd";
  const lr = checkLearningRate(fn, "lr", options?.lr);
  const momentum = options.momentum ?? 0;
  const nesterov = options.nesterov ?? false;
  momentumOptions(fn, momentum, nesterov);
  const weightDecay = checkNonNegative(fn, "weightDecay", options.weightDecay ?? 0);
  const mask = checkFunction<SgdOptions["mask"]>(fn, "mask", options.mask ?? defaultDecayMask);
  const parts: GradientTransform<unknown>[] = [];
  if (weightDecay > 0) parts.push(addDecayedWeights({ weightDecay, mask }));
  if (momentum > 0) parts.push(scaleByMomentum({ momentum, nesterov }));
  parts.push(scaleByLearningRate(lr));
  return chain(...parts) as GradientTransform<unknown[]>;
}
