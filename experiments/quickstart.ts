/**
 * `deno task experiment quickstart`: trains the tiny GPT on the Moby Dick character corpus for a short run and reports
 * loss, ms/step, whole-step peak MiB and saved-activation MiB.
 * @module
 */
import { z } from "zod";
import { loadCharCorpus } from "../lib/data/mod.ts";
import { mib } from "../lib/memory/mod.ts";
import { predictSavedBytes } from "../lib/nn/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { adamw } from "../lib/optim/mod.ts";
import { runLm } from "../lib/train/mod.ts";
import { defineExperiment } from "./_lib/experiment.ts";
import { summaryRow } from "./_lib/standard_runs.ts";

/** The quickstart experiment. */
export const quickstart = defineExperiment({
  name: "quickstart",
  description: "Tiny GPT on Moby Dick characters: loss, ms/step, peak and saved-activation MiB",
  schema: z.object({
    steps: z.number().int().positive().default(300).describe("training steps"),
    batch: z.number().int().positive().default(16).describe("sequences per batch"),
    context: z.number().int().positive().default(32).describe("sequence length (<= 32 for the tiny preset)"),
    lr: z.number().positive().default(3e-3).describe("AdamW learning rate"),
    seed: z.number().int().default(0).describe("init and sampling seed"),
    corpus: z.enum(["moby-dick", "first-names"]).default("moby-dick").describe("character corpus"),
  }).strict(),
  quick: { steps: 30 },
  columns: ["technique", "model", "steps", "loss", "valLoss", "accuracy", "msPerStep", "peakMiB", "savedMiB"],
  async run(config, ctx) {
    const corpus = await loadCharCorpus({ name: config.corpus });
    const model = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize }, { seed: config.seed });
    const r = runLm({
      model,
      optimizer: adamw({ lr: config.lr }),
      data: corpus,
      steps: config.steps,
      batch: config.batch,
      context: config.context,
      seed: config.seed,
      log: ctx.log,
    });
    const predicted = predictSavedBytes(model.savedSpecs([config.batch, config.context]));
    return [summaryRow("baseline", "gpt-tiny", r, { predictedSavedMiB: mib(predicted) })];
  },
});
