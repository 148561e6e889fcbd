/**
 * memtrain: train Transformers with far less memory, in Deno, on TensorFlow.js.
 *
 * Layers have explicit forward and backward passes; everything a forward keeps for its backward goes through an
 * {@linkcode ActivationPolicy} (seam A: checkpointing, Mesa, WTA-CRS), gradients come from a {@linkcode GradSource}
 * or a whole {@linkcode TrainStep} (seam B: backprop, StreamBP, MeZO), and optimizers are `{init, update}` transforms
 * composed with `chain` (seam C: AdamW, SGD, GaLore). This module is the curated public API: models and presets,
 * data loaders, policies and selectors, gradient sources, transforms, the Trainer and ready-made runs, measurement,
 * and `initBackend`. Internals (layers, kernels, BLAS, heap views, hashes) are importable from their own folder's
 * `mod.ts` (`lib/nn/mod.ts`, `lib/backend/mod.ts`, ...). The map: `docs/architecture.md`.
 *
 * @example Train a tiny GPT with checkpointing and Mesa, measuring the step
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { adamw, backprop, checkpoint, countTask, createGpt, GPT_PRESETS, initBackend, measure, mesa, Rng, tokenBatch, Trainer } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await initBackend(); // OpenBLAS-backed matmuls when libopenblas loads, else wasm
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const m = mesa({ grouping: "head-wise" }); // 8-bit saved activations
 * const source = backprop({ selector: m.selector, trunk: checkpoint("every") });
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }), source });
 * const rng = new Rng(0);
 * const losses: number[] = [];
 * for (let i = 0; i < 40; i++) {
 *   const batch = tokenBatch(countTask(rng, { batch: 8, context: 32, vocab: 16 }), 8, 32);
 *   const { result } = await measure(() => trainer.step(batch));
 *   losses.push(result.loss);
 *   tf.dispose([batch.x, batch.y]);
 * }
 * assert.ok(losses[39] < losses[0] / 2);
 * trainer.dispose();
 * m.dispose();
 * ```
 * @module
 */

// Backend.
export {
  type BackendInfo,
  type BackendName,
  type BackendOptions,
  backendOptions,
  initBackend,
  type InitBackendOptions,
} from "./lib/backend/mod.ts";

// Memory measurement.
export { measure, type Measurement, type MemoryMeter, meter, mib } from "./lib/memory/mod.ts";

// Seam types and what techniques and users plug into them.
export {
  type ActivationPolicy,
  type Batch,
  byRole,
  except,
  type ForwardKey,
  forwardLoss,
  type Grads,
  type GradSource,
  inferLogits,
  keepAll,
  type Layer,
  type LossAndGrads,
  mapParams,
  type Model,
  type ParamProvider,
  type Params,
  paramsProvider,
  type PassOptions,
  type PolicySelector,
  predictSaved,
  type SavedInfo,
  type SavedRole,
  type StepOutcome,
  type TrainStep,
  type TrunkTransform,
} from "./lib/nn/mod.ts";

// Models.
export {
  createGpt,
  createVit,
  type Gpt,
  GPT_PRESETS,
  type GptConfig,
  type Vit,
  VIT_PRESETS,
  type VitConfig,
} from "./lib/models/mod.ts";

// Data.
export {
  type CharCorpus,
  charCorpusFromText,
  copyTask,
  countTask,
  DatasetNotFoundError,
  imageBatches,
  type ImageDataset,
  lmEvalBatches,
  loadCharCorpus,
  loadFashionMnist,
  normalizeImages,
  Rng,
  sampleLmBatch,
} from "./lib/data/mod.ts";

// Optimizers (seam C).
export {
  adam,
  adamw,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  constantSchedule,
  disposeState,
  type GradientTransform,
  scaleByAdam,
  scaleByLearningRate,
  type Schedule,
  sgd,
  stateBytes,
  warmupCosineSchedule,
} from "./lib/optim/mod.ts";

// Training.
export {
  backprop,
  type BackpropOptions,
  disposeBatch,
  evaluate,
  gradientStep,
  runClassifier,
  runLm,
  type RunSummary,
  type StepResult,
  tokenBatch,
  Trainer,
  type TrainerOptions,
} from "./lib/train/mod.ts";

// Techniques.
export { checkpoint, type CheckpointPlan, predictPeakSavedBytes } from "./lib/checkpoint/mod.ts";
export { type Mesa, mesa, mesaExcept, type MesaOptions } from "./lib/mesa/mod.ts";

// Plots for notebooks.
export { lineChartSvg } from "./lib/viz/mod.ts";
