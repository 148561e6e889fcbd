/**
 * `deno task experiment quickstart`: trains the tiny GPT on the Moby Dick character corpus for a short run and reports
 * loss, ms/step, whole-step peak MiB and saved-activation MiB (plain backprop unless `--technique` names another).
 * @module
 */
import { z } from "zod";
import { loadCharCorpus } from "../lib/data/mod.ts";
import { mib } from "../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { disposeTree, predictSavedBytes, trunkSavedSpecs } from "../lib/nn/mod.ts";
import { runLm } from "../lib/train/mod.ts";
import { memoryBars } from "./_lib/charts.ts";
import { defineExperiment } from "./_lib/experiment.ts";
import { buildOptimizer, optimizerFields } from "./_lib/optimizers.ts";
import { summaryRow } from "./_lib/standard_runs.ts";
import { BASELINE, buildTechnique, TECHNIQUE_NAMES, techniqueFields, techniqueName } from "./_lib/techniques.ts";

/** The quickstart experiment. */
export const quickstart = defineExperiment({
  name: "quickstart",
  description: "Tiny GPT on Moby Dick characters: loss, ms/step, peak and saved-activation MiB",
  schema: z.object({
    steps: z.number().int().positive().default(300).describe("training steps"),
    batch: z.number().int().positive().default(16).describe("sequences per batch"),
    context: z.number().int().positive().default(32).describe("sequence length (<= 32 for the tiny preset)"),
    lr: z.number().positive().default(3e-3).describe("learning rate"),
    weightDecay: z.number().min(0).default(0.01).describe("weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
    seed: z.number().int().default(0).describe("init, sampling and technique seed"),
    corpus: z.enum(["moby-dick", "first-names"]).default("moby-dick").describe("character corpus"),
    technique: techniqueName().default(BASELINE).describe(
      `technique to train with: ${TECHNIQUE_NAMES.join(", ")}, or variants joined with "+"`,
    ),
    ...optimizerFields(),
    ...techniqueFields(),
  }).strict(),
  quick: { steps: 30 },
  columns: ["technique", "model", "steps", "loss", "valLoss", "accuracy", "msPerStep", "peakMiB", "savedMiB"],
  charts: (rows) => memoryBars(rows, "memory per step, tiny GPT"),
  async run(config, ctx) {
    const corpus = await loadCharCorpus({ name: config.corpus });
    const optimizer = buildOptimizer(config, { lr: config.lr, weightDecay: config.weightDecay });
    const tech = buildTechnique(config.technique, config);
    const model = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize }, { seed: config.seed });
    try {
      const r = runLm({
        model,
        optimizer: tech.optimizer(optimizer),
        source: tech.source,
        data: corpus,
        steps: config.steps,
        batch: config.batch,
        context: config.context,
        seed: config.seed,
        onStep: ctx.progress?.step,
      });
      const specs = trunkSavedSpecs(tech.trunk(model.layers), model.loss, [config.batch, config.context]);
      const predicted = predictSavedBytes(specs, tech.selector);
      return [summaryRow(config.technique, "gpt-tiny", r, { predictedSavedMiB: mib(predicted) })];
    } finally {
      tech.dispose();
      disposeTree(model.params);
    }
  },
});
