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
export { type EvalResult, evaluate } from "./evaluate.ts";
export { disposeBatch, type TokenArrays, tokenBatch } from "./batch.ts";
export {
  type ClassifierRunOptions,
  type LmRunOptions,
  runClassifier,
  runLm,
  type RunOptions,
  type RunSummary,
} from "./runs.ts";
