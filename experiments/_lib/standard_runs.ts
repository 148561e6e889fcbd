/**
 * The two standard training runs the accuracy experiments share (baseline, mesa, ...): GPT-small on Moby Dick
 * characters and ViT-small on Fashion-MNIST, with the configured optimizer (default AdamW) and warmup-cosine
 * schedules. Same seed → same init, same batches. A technique plugs in as a {@linkcode BuiltTechnique}.
 * @module
 */
import { z } from "zod";
import { loadCharCorpus, loadFashionMnist, normalizeImages } from "../../lib/data/mod.ts";
import { mib } from "../../lib/memory/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { disposeTree } from "../../lib/nn/mod.ts";
import { warmupCosineSchedule } from "../../lib/optim/mod.ts";
import { runClassifier, runLm, type RunSummary, type StepProgress } from "../../lib/train/mod.ts";
import type { Row } from "./experiment.ts";
import { buildOptimizer, optimizerFields } from "./optimizers.ts";
import { UsageError } from "./errors.ts";
import type { BuiltTechnique } from "./technique_cli.ts";
import type { TrainingOptions } from "./training.ts";

/** Throws a UsageError when `technique` trains with a whole step (MeZO): the standard runs train from scratch. */
export function requireOptimizerTraining(technique: BuiltTechnique | undefined, where: string): void {
  if (technique?.step) {
    throw new UsageError(
      `${where} trains from scratch with an optimizer, and technique "${technique.name}" brings its own training ` +
        "step (MeZO fine-tunes a pretrained model: run `deno task experiment mezo`)",
    );
  }
}

/** Config keys of the standard runs (spread into an experiment's schema). */
export const standardRunFields = {
  gptSteps: z.number().int().positive().default(400).describe("GPT training steps"),
  gptBatch: z.number().int().positive().default(16).describe("GPT sequences per batch (T = 128)"),
  gptLr: z.number().positive().default(2e-3).describe("GPT peak learning rate"),
  gptWeightDecay: z.number().min(0).default(0.01).describe("GPT weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
  vitSteps: z.number().int().positive().default(1900).describe("ViT training steps"),
  vitBatch: z.number().int().positive().default(128).describe("ViT images per batch"),
  vitLr: z.number().positive().default(2e-3).describe("ViT peak learning rate"),
  vitWeightDecay: z.number().min(0).default(0.05).describe("ViT weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
  vitPatch: z.number().int().positive().default(7).describe("ViT patch size (4 or 7 for 28x28 images)"),
  trainLimit: z.number().int().positive().default(60000).describe("Fashion-MNIST training images used"),
  evalLimit: z.number().int().positive().default(10000).describe("Fashion-MNIST test images evaluated"),
  seed: z.number().int().default(0).describe("init and sampling seed"),
  ...optimizerFields(),
};

/** The quick preset of the standard runs. */
export const standardRunQuick = {
  gptSteps: 10,
  vitSteps: 10,
  trainLimit: 2000,
  evalLimit: 500,
  gptBatch: 4,
  vitBatch: 32,
};

/** Resolved config of the standard runs (the optimizer's option keys are read by `buildOptimizer`). */
export type StandardRunConfig = { [K in keyof typeof standardRunFields]: z.infer<(typeof standardRunFields)[K]> };

/** Where a standard run keeps its training state: the run's `ctx.training` and this run's id (its folder name). */
export interface StandardRunState {
  /** `ctx.training` of the experiment run (`--resume`, `--checkpointEvery`, `--skipNonFinite`). */
  training: TrainingOptions | undefined;
  /** The run's id within the experiment (e.g. the cell's label): its checkpoints go to `training.dir(id)`. */
  id: string;
}

/**
 * The checkpoint and guard options of `runLm`/`runClassifier` for a standard run: checkpoints every
 * `--checkpointEvery` steps under the run's folder (resumed with `--resume`), the technique's cross-step state saved
 * with them, and `--skipNonFinite`.
 */
function trainingRunOptions(state: StandardRunState | undefined, technique: BuiltTechnique | undefined) {
  const t = state?.training;
  return {
    ...(technique ? { stateful: { ...technique.stateful } } : {}),
    ...(t?.skipNonFinite ? { skipNonFinite: true } : {}),
    ...(t?.checkpointEvery !== undefined
      ? { checkpoint: { dir: t.dir(state!.id), every: t.checkpointEvery, resume: t.resume } }
      : {}),
  };
}

/** A result row from a run summary. */
export function summaryRow(technique: string, model: string, r: RunSummary, extra: Record<string, number> = {}): Row {
  return {
    technique,
    model,
    steps: r.steps,
    loss: r.trainLoss,
    valLoss: r.evalLoss,
    accuracy: r.accuracy,
    msPerStep: r.msPerStep,
    peakMiB: mib(r.peakBytes),
    savedMiB: mib(r.savedBytes),
    ...extra,
  };
}

/** Warmup (5% of the steps, from peak/100) then cosine decay to peak/endDivisor. */
function schedule(peak: number, steps: number, endDivisor: number) {
  return warmupCosineSchedule({
    peak,
    warmupSteps: Math.ceil(steps / 20),
    totalSteps: steps,
    end: peak / endDivisor,
    init: peak / 100,
  });
}

/**
 * Trains GPT-small on Moby Dick characters with `technique` (plain backprop when `undefined`); returns the summary.
 * The technique's source trains and its optimizer wrapper, if any, wraps the configured optimizer; `onStep` gets
 * every step's progress; `state` checkpoints the run (`--checkpointEvery`, `--resume`) and sets `--skipNonFinite`.
 */
export async function runGptSmall(
  config: StandardRunConfig,
  technique: BuiltTechnique | undefined,
  onStep?: (p: StepProgress) => void,
  state?: StandardRunState,
): Promise<RunSummary> {
  const lr = schedule(config.gptLr, config.gptSteps, 10);
  const base = buildOptimizer(config, { lr, weightDecay: config.gptWeightDecay, weightDecayKey: "gptWeightDecay" });
  const optimizer = technique ? technique.optimizer(base) : base;
  requireOptimizerTraining(technique, "the GPT-small run");
  const corpus = await loadCharCorpus({ name: "moby-dick" });
  const created = createGpt({ ...GPT_PRESETS.small, vocab: corpus.vocabSize }, { seed: config.seed });
  const model = technique ? technique.prepare(created) : created;
  try {
    return runLm({
      model,
      optimizer,
      ...(technique ? { source: technique.source, update: technique.update } : {}),
      data: corpus,
      steps: config.gptSteps,
      batch: config.gptBatch,
      context: GPT_PRESETS.small.context,
      seed: config.seed,
      evalBatches: 16,
      onStep,
      ...trainingRunOptions(state, technique),
    });
  } finally {
    disposeTree(model.params);
  }
}

/**
 * Trains ViT-small on Fashion-MNIST with `technique` (plain backprop when `undefined`); returns the summary (accuracy
 * on the test split). The technique's source trains and its optimizer wrapper, if any, wraps the configured optimizer;
 * `onStep` gets every step's progress.
 */
export async function runVitSmall(
  config: StandardRunConfig,
  technique: BuiltTechnique | undefined,
  onStep?: (p: StepProgress) => void,
  state?: StandardRunState,
): Promise<RunSummary> {
  const lr = schedule(config.vitLr, config.vitSteps, 20);
  const base = buildOptimizer(config, { lr, weightDecay: config.vitWeightDecay, weightDecayKey: "vitWeightDecay" });
  const optimizer = technique ? technique.optimizer(base) : base;
  const train = normalizeImages(await loadFashionMnist({ split: "train", limit: config.trainLimit }));
  const test = normalizeImages(await loadFashionMnist({ split: "test", limit: config.evalLimit }));
  requireOptimizerTraining(technique, "the ViT-small run");
  const created = createVit({ ...VIT_PRESETS.small, patch: config.vitPatch }, { seed: config.seed });
  const model = technique ? technique.prepare(created) : created;
  try {
    return runClassifier({
      model,
      optimizer,
      ...(technique ? { source: technique.source, update: technique.update } : {}),
      train,
      test,
      steps: config.vitSteps,
      batch: config.vitBatch,
      seed: config.seed,
      onStep,
      ...trainingRunOptions(state, technique),
    });
  } finally {
    disposeTree(model.params);
  }
}
