/**
 * Training: plain backprop (the default gradient source), the gradient step, the Trainer, runs and evaluation. The
 * seam types (`GradSource`, `TrainStep`, `TrunkTransform`) and forward-only passes are in `lib/nn`.
 * @module
 */
export { backprop, type BackpropOptions, backpropOptionsOf } from "./backprop.ts";
export { gradientStep, type GradientStepOptions } from "./gradient_step.ts";
export { type StepResult, Trainer, type TrainerOptions, type UpdateMode } from "./trainer.ts";
export { updateInBackward } from "./update_in_backward.ts";
export { predictUpdateBytes, type UpdateBytes, type UpdateBytesOptions } from "./update_memory.ts";
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
export { diagnose, firstNonFinite, guardedSource, NonFiniteError, type NonFiniteKind } from "./guard.ts";
export { checkpointPath, listCheckpoints, type RunCheckpointOptions } from "./train_loop.ts";
