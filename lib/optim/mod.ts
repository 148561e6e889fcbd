/**
 * Seam C, how gradients become updates: optax-style gradient transforms for TF.js.
 *
 * A {@linkcode GradientTransform} is `{init, update}` over plain state; optimizers are recipes built with
 * {@linkcode chain} (`adamw = chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)`), and
 * {@linkcode applyUpdates} adds the updates to the parameters. `update` never disposes its inputs; the caller
 * disposes the old state ({@linkcode disposeState}) and the grads, and `applyUpdates` disposes the old parameters and
 * the updates.
 *
 * @example One AdamW step with clipping and a schedule
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { adamw, applyUpdates, chain, clipByGlobalNorm, disposeState, warmupCosineSchedule } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const lr = warmupCosineSchedule({ peak: 1e-2, warmupSteps: 1, totalSteps: 100, init: 1e-3 });
 * const opt = chain(clipByGlobalNorm(1), adamw({ lr }));
 * let params = { "fc.w": tf.ones([2, 2]) };
 * let state = opt.init(params);
 * const grads = { "fc.w": tf.fill([2, 2], 0.5) };
 * const { updates, state: next } = opt.update(grads, state, params);
 * disposeState([grads, state]);
 * state = next;
 * params = applyUpdates(params, updates);
 * assert.ok(params["fc.w"].dataSync()[0] < 1);
 * disposeState([params, state]);
 * ```
 * @module
 */
export {
  chain,
  type ChainState,
  disposeState,
  type EmptyState,
  type GradientTransform,
  identity,
  namedChain,
  stateBytes,
  type TransformResult,
  type UpdateExtras,
} from "./transform.ts";
export {
  adam,
  type AdamOptions,
  adamw,
  type AdamwOptions,
  type AdamwState,
  addDecayedWeights,
  type AddDecayedWeightsOptions,
  defaultDecayMask,
  scaleByAdam,
  type ScaleByAdamOptions,
  type ScaleByAdamState,
  scaleByLearningRate,
  type ScaleByLearningRateState,
} from "./adam.ts";
export {
  scaleByMomentum,
  type ScaleByMomentumOptions,
  type ScaleByMomentumState,
  sgd,
  type SgdOptions,
} from "./sgd.ts";
export { clipByGlobalNorm, globalNorm } from "./clip.ts";
export { constantSchedule, type Schedule, warmupCosineSchedule, type WarmupCosineScheduleOptions } from "./schedule.ts";
export { applyUpdates } from "./apply.ts";
export { checkSeparable, globalTransforms, ParamUpdater } from "./separable.ts";
