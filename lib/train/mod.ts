/**
 * Training: gradient sources (seam B), the step, and evaluation.
 * @module
 */
export {
  backprop,
  type BackpropOptions,
  type GradSource,
  inferLogits,
  type LossAndGrads,
  type TrunkTransform,
} from "./grad_source.ts";
export { type StepResult, Trainer, type TrainerOptions } from "./trainer.ts";
export { evaluate, type EvalResult } from "./evaluate.ts";
export { disposeBatch, type TokenArrays, tokenBatch } from "./batch.ts";
