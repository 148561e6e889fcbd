/**
 * `deno task experiment mesa`: fp32 saved activations vs Mesa 8-bit (per-tensor and head-wise), same seeds and
 * steps: ViT-small on Fashion-MNIST (test accuracy) and GPT-small on Moby Dick characters (validation loss), with the
 * memory columns. In the spirit of the Mesa README table (memory and top-1 without/with Mesa).
 * @module
 */
import { z } from "zod";
import { defineExperiment, runCellsInOrder } from "./_lib/experiment.ts";
import { runGptSmall, runVitSmall, standardRunFields, standardRunQuick, summaryRow } from "./_lib/standard_runs.ts";
import { buildTechnique, techniqueFields } from "./_lib/techniques.ts";
import { memoryBars } from "./_lib/charts.ts";

const VARIANTS = ["baseline", "mesa-per-tensor", "mesa-head-wise"] as const;

/** The Mesa accuracy experiment. */
export const mesa = defineExperiment({
  name: "mesa",
  description: "fp32 vs Mesa 8-bit saved activations: accuracy/loss and memory on ViT-small and GPT-small",
  schema: z.object({
    models: z.enum(["both", "gpt", "vit"]).default("both").describe("which models to train"),
    variants: z.array(z.enum(VARIANTS)).default([...VARIANTS]).describe("fp32 baseline and Mesa groupings to run"),
    ...techniqueFields("mesa"),
    ...standardRunFields,
  }).strict(),
  quick: standardRunQuick,
  // The README's commands predate the technique prefix.
  aliases: { emaDecay: "mesaEmaDecay", outOfRange: "mesaOutOfRange" },
  columns: [
    "technique",
    "model",
    "steps",
    "valLoss",
    "valLossRatio",
    "accuracy",
    "accuracyDeltaPts",
    "savedMiB",
    "savedRatio",
    "peakMiB",
    "peakRatio",
    "msPerStep",
  ],
  cells(config) {
    const models = config.models === "both" ? ["vit", "gpt"] : [config.models];
    return models.flatMap((model) => config.variants.map((variant) => ({ model, variant })));
  },
  async runCell(config, cell, ctx) {
    const name = cell.variant as (typeof VARIANTS)[number];
    const tech = buildTechnique(name, config);
    try {
      const state = { training: ctx.training, id: `${cell.model}-${name}` };
      const r = cell.model === "vit"
        ? await runVitSmall(config, tech, ctx.progress?.step, state)
        : await runGptSmall(config, tech, ctx.progress?.step, state);
      return [summaryRow(name, cell.model === "vit" ? `vit-small/p${config.vitPatch}` : "gpt-small", r)];
    } finally {
      tech.dispose();
    }
  },
  finalize(rows) {
    // Differences to the fp32 row of the same model: accuracy in points, validation loss as a ratio.
    return rows.map((row) => {
      const base = rows.find((b) => b.model === row.model && b.technique === "baseline");
      if (!base) return row;
      return {
        ...row,
        accuracyDeltaPts: 100 * (Number(row.accuracy) - Number(base.accuracy)),
        valLossRatio: Number(row.valLoss) / Number(base.valLoss),
        savedRatio: Number(row.savedMiB) / Number(base.savedMiB),
        peakRatio: Number(row.peakMiB) / Number(base.peakMiB),
      };
    });
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
  charts: (rows) => memoryBars(rows, "memory per step, fp32 vs Mesa"),
});
