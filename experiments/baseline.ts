/**
 * `deno task experiment baseline`: the reference runs every technique is compared with. GPT-small on Moby Dick
 * characters (validation loss) and ViT-small on Fashion-MNIST (test accuracy), plain backprop, fp32, AdamW.
 * @module
 */
import { z } from "zod";
import { loadCharCorpus, loadFashionMnist, normalizeImages } from "../lib/data/mod.ts";
import { mib } from "../lib/memory/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../lib/models/mod.ts";
import { adamw, warmupCosineSchedule } from "../lib/optim/mod.ts";
import { runClassifier, runLm, type RunSummary } from "../lib/train/mod.ts";
import { defineExperiment, type Row } from "./_lib/experiment.ts";

function row(technique: string, model: string, r: RunSummary, extra: Record<string, number>): Row {
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

/** The baseline experiment. */
export const baseline = defineExperiment({
  name: "baseline",
  description: "GPT-small on Moby Dick characters and ViT-small on Fashion-MNIST, plain backprop",
  schema: z.object({
    models: z.enum(["both", "gpt", "vit"]).default("both").describe("which baselines to run"),
    gptSteps: z.number().int().positive().default(400).describe("GPT training steps"),
    gptBatch: z.number().int().positive().default(16).describe("GPT sequences per batch"),
    gptLr: z.number().positive().default(2e-3).describe("GPT peak learning rate"),
    vitSteps: z.number().int().positive().default(1500).describe("ViT training steps"),
    vitBatch: z.number().int().positive().default(64).describe("ViT images per batch"),
    vitLr: z.number().positive().default(2e-3).describe("ViT peak learning rate"),
    vitPatch: z.number().int().positive().default(7).describe("ViT patch size (4 or 7 for 28x28 images)"),
    trainLimit: z.number().int().positive().default(60000).describe("Fashion-MNIST training images used"),
    evalLimit: z.number().int().positive().default(10000).describe("Fashion-MNIST test images evaluated"),
    seed: z.number().int().default(0).describe("init and sampling seed"),
  }).strict(),
  quick: { gptSteps: 10, vitSteps: 10, trainLimit: 2000, evalLimit: 500, gptBatch: 4 },
  columns: ["technique", "model", "steps", "loss", "valLoss", "accuracy", "msPerStep", "peakMiB", "savedMiB"],
  async run(config, ctx) {
    const rows: Row[] = [];
    if (config.models !== "vit") {
      const corpus = await loadCharCorpus({ name: "moby-dick" });
      const model = createGpt({ ...GPT_PRESETS.small, vocab: corpus.vocabSize }, { seed: config.seed });
      const lr = warmupCosineSchedule({
        peak: config.gptLr,
        warmupSteps: Math.ceil(config.gptSteps / 20),
        totalSteps: config.gptSteps,
        end: config.gptLr / 10,
        init: config.gptLr / 100,
      });
      const r = runLm({
        model,
        optimizer: adamw({ lr, weightDecay: 0.01 }),
        data: corpus,
        steps: config.gptSteps,
        batch: config.gptBatch,
        context: GPT_PRESETS.small.context,
        seed: config.seed,
        evalBatches: 16,
        log: ctx.log,
      });
      rows.push(row("baseline", "gpt-small", r, { batch: config.gptBatch, context: GPT_PRESETS.small.context }));
    }
    if (config.models !== "gpt") {
      const train = normalizeImages(await loadFashionMnist({ split: "train", limit: config.trainLimit }));
      const test = normalizeImages(await loadFashionMnist({ split: "test", limit: config.evalLimit }));
      const model = createVit({ ...VIT_PRESETS.small, patch: config.vitPatch }, { seed: config.seed });
      const lr = warmupCosineSchedule({
        peak: config.vitLr,
        warmupSteps: Math.ceil(config.vitSteps / 20),
        totalSteps: config.vitSteps,
        end: config.vitLr / 20,
        init: config.vitLr / 100,
      });
      const r = runClassifier({
        model,
        optimizer: adamw({ lr, weightDecay: 0.05 }),
        train,
        test,
        steps: config.vitSteps,
        batch: config.vitBatch,
        seed: config.seed,
        log: ctx.log,
        logEvery: 100,
      });
      rows.push(row("baseline", `vit-small/p${config.vitPatch}`, r, { batch: config.vitBatch, testImages: test.n }));
    }
    return rows;
  },
});
