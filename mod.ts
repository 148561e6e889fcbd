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
 * import { adamw, backprop, charCorpusFromText, checkpoint, createGpt, GPT_PRESETS, initBackend, measure, mesa, Rng, sampleLmBatch, tokenBatch, Trainer } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await initBackend(); // OpenBLAS-backed matmuls when libopenblas loads, else wasm
 * const corpus = charCorpusFromText("call me ishmael. some years ago, never mind how long precisely. ".repeat(50));
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize });
 * const m = mesa({ grouping: "head-wise" }); // 8-bit saved activations
 * const source = backprop({ selector: m.selector, trunk: checkpoint("every") }); // + per-block checkpointing
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }), source });
 * const rng = new Rng(0);
 * const losses: number[] = [];
 * for (let i = 0; i < 40; i++) {
 *   const batch = tokenBatch(sampleLmBatch(corpus.train, 8, 32, rng), 8, 32);
 *   const { result, peakBytes } = await measure(() => trainer.step(batch));
 *   assert.ok(peakBytes > 0);
 *   losses.push(result.loss);
 *   tf.dispose([batch.x, batch.y]);
 * }
 * assert.ok(losses[39] < losses[0] - 0.5); // 3.0 -> 1.9 nats/char in 40 steps
 * trainer.dispose();
 * m.dispose();
 * ```
 * @module
 */

// Backend.
export {
  AllocationError,
  type BackendInfo,
  type BackendName,
  type BackendOptions,
  backendOptions,
  type HeapMode,
  heapStep,
  initBackend,
  type InitBackendOptions,
} from "./lib/backend/mod.ts";

// Memory measurement: logical (the meter) and physical (the wasm heap's break, or RSS).
export {
  type HeapBreakdown,
  measure,
  type Measurement,
  type MemoryMeter,
  meter,
  mib,
  type PhysicalKind,
  type PhysicalMeter,
  physicalMeter,
  type TimelineSpan,
} from "./lib/memory/mod.ts";

// Seam types and what techniques and users plug into them.
export {
  type ActivationPolicy,
  type Batch,
  type BatchRows,
  byRole,
  Context,
  type ContextOptions,
  disposeTree,
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
  type ParamSpec,
  paramsProvider,
  type PassOptions,
  type PolicySelector,
  type PredictedSaved,
  predictSaved,
  predictSavedBytes,
  type SavedEntry,
  type SavedInfo,
  type SavedReportRow,
  type SavedRole,
  type SavedSpec,
  SavedStore,
  SoftmaxCrossEntropy,
  type StepOutcome,
  type TrainStep,
  treeBytes,
  trunkSavedSpecs,
  type TrunkTransform,
  type Updates,
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
  type CharCorpusFromTextOptions,
  type CharCorpusName,
  CorruptDatasetError,
  DatasetNotFoundError,
  encodeNames,
  type ImageBatch,
  imageBatch,
  imageBatches,
  type ImageBatchesOptions,
  type ImageDataset,
  type LmBatch,
  loadCharCorpus,
  type LoadCharCorpusOptions,
  loadFashionMnist,
  type LoadFashionMnistOptions,
  loadNameGender,
  type LoadNameGenderOptions,
  type MutableArrayLike,
  type NameBatchArrays,
  type NameGender,
  type NameSplit,
  normalizeImages,
  type NormalizeImagesOptions,
  Rng,
  sampleLmBatch,
} from "./lib/data/mod.ts";

// Optimizers (seam C).
export {
  adam,
  type AdamOptions,
  adamw,
  type AdamwOptions,
  type AdamwState,
  chain,
  type ChainState,
  checkSeparable,
  clipByGlobalNorm,
  constantSchedule,
  disposeState,
  type EmptyState,
  type GradientTransform,
  scaleByAdam,
  type ScaleByAdamOptions,
  type ScaleByAdamState,
  scaleByLearningRate,
  type ScaleByLearningRateState,
  type Schedule,
  sgd,
  type SgdOptions,
  stateBytes,
  type TransformResult,
  type UpdateExtras,
  warmupCosineSchedule,
  type WarmupCosineScheduleOptions,
} from "./lib/optim/mod.ts";

// Training.
export {
  backprop,
  type BackpropOptions,
  type ClassifierRunOptions,
  disposeBatch,
  type EvalResult,
  evaluate,
  gradientStep,
  type GradientStepOptions,
  type LmRunOptions,
  predictUpdateBytes,
  runClassifier,
  runLm,
  type RunOptions,
  type RunSummary,
  type StepProgress,
  type StepResult,
  type TokenArrays,
  tokenBatch,
  Trainer,
  type TrainerOptions,
  type UpdateBytes,
  type UpdateBytesOptions,
  updateInBackward,
  type UpdateMode,
} from "./lib/train/mod.ts";

// Resuming: training-state checkpoints (safetensors + CRC-32), the stateful seam, the non-finite guard.
export { CheckpointError, readStateFile, type StateFile, writeStateFile } from "./lib/state/mod.ts";
export type { StateArray, Stateful, StateTree } from "./lib/nn/mod.ts";
export {
  checkpointPath,
  listCheckpoints,
  NonFiniteError,
  type NonFiniteKind,
  type RunCheckpointOptions,
} from "./lib/train/mod.ts";

// Techniques.
export {
  checkpoint,
  type CheckpointOptions,
  type CheckpointPlan,
  type LossSpecs,
  type PeakOptions,
  planSegments,
  predictPeakSavedBytes,
} from "./lib/checkpoint/mod.ts";
export {
  type Grouping,
  type GroupLayout,
  type Mesa,
  mesa,
  mesaExcept,
  type MesaOptions,
  type MesaPacked,
  type MesaPolicy,
  type MesaPolicyOptions,
  type MesaRange,
  type MesaRangeObserver,
  type MesaSnapshot,
  type MesaState,
  type OutOfRange,
  type Rounding,
} from "./lib/mesa/mod.ts";
export {
  chunkedLoss,
  type ChunkedLossOptions,
  type ChunkedLossResult,
  type ChunkRange,
  type KvMode,
  streamBp,
  type StreamBpConfig,
  type StreamBpOptions,
  type StreamBpSource,
  streamDpo,
  type StreamDpoOptions,
  type StreamDpoSource,
} from "./lib/streambp/mod.ts";

// Charts and tables: Vega-Lite specs rendered to SVG or shown in notebooks; lineChartSvg is superseded.
export {
  barChartSpec,
  type BarDatum,
  chartBundle,
  type ChartOptions,
  type ChartSpec,
  type Column,
  htmlTable,
  type LineChartOptions,
  lineChartSpec,
  type LineChartSpecOptions,
  lineChartSvg,
  lossCurveSpec,
  markdownTable,
  type MimeBundle,
  renderSvg,
  type Series,
  type TableRow,
  type TradeoffPoint,
  tradeoffSpec,
} from "./lib/viz/mod.ts";
export {
  type Estimator,
  GradNormCache,
  type RowSample,
  type Wtacrs,
  wtacrs,
  type WtacrsOptions,
  type WtacrsPacked,
  type WtacrsPolicy,
  type WtacrsPolicyOptions,
  type WtacrsScores,
} from "./lib/wtacrs/mod.ts";
export {
  errorRateObjective,
  mezo,
  MezoLog,
  type MezoLogConfig,
  type MezoLogJson,
  type MezoLogStep,
  type MezoObjective,
  type MezoOptions,
  type MezoState,
  type NoiseKind,
  type ParamSelection,
  replayMezo,
} from "./lib/mezo/mod.ts";
export {
  isLoraParam,
  type LoraInfo,
  type LoraModel,
  type LoraOptions,
  type LoraTargets,
  mergeLora,
  withLora,
} from "./lib/lora/mod.ts";
export {
  type AnalyticOptions,
  type Factors,
  type FinderCall,
  galore,
  type GaloreOptions,
  type GaloreProjection,
  type GaloreStateBytes,
  galoreStateBytes,
  galoreStateBytesAnalytic,
  type GaloreTransform,
  type GroupBytes,
  type LapackDriver,
  lowRankWeights,
  type LowRankWeightsOptions,
  type LowRankWeightsState,
  type ProjType,
  type RefreshEvent,
  type ResolvedSvd,
  scaleByGalore,
  type ScaleByGaloreOptions,
  type ScaleByGaloreState,
  type Side,
  type SubspaceFinder,
  type SvdMethod,
} from "./lib/galore/mod.ts";
