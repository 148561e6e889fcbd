/**
 * Training: plain backprop (the default gradient source), the gradient step, the Trainer, runs and evaluation. The
 * seam types (`GradSource`, `TrainStep`, `TrunkTransform`) and forward-only passes are in `lib/nn`.
 * @module
 */
export { backprop, type BackpropOptions } from "./backprop.ts";
export { gradientStep } from "./gradient_step.ts";
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
  type StepProgress,
} from "./runs.ts";
