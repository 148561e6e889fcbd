/**
 * `deno task experiment baseline`: the reference runs every technique is compared with. GPT-small on Moby Dick
 * characters (validation loss) and ViT-small on Fashion-MNIST (test accuracy), plain backprop, fp32, AdamW.
 * @module
 */
import { z } from "zod";
import { GPT_PRESETS } from "../lib/models/mod.ts";
import { defineExperiment, type Row } from "./_lib/experiment.ts";
import { memoryBars } from "./_lib/charts.ts";
import { runGptSmall, runVitSmall, standardRunFields, standardRunQuick, summaryRow } from "./_lib/standard_runs.ts";

/** The baseline experiment. */
export const baseline = defineExperiment({
  name: "baseline",
  description: "GPT-small on Moby Dick characters and ViT-small on Fashion-MNIST, plain backprop",
  schema: z.object({
    models: z.enum(["both", "gpt", "vit"]).default("both").describe("which baselines to run"),
    ...standardRunFields,
  }).strict(),
  quick: standardRunQuick,
  columns: ["technique", "model", "steps", "loss", "valLoss", "accuracy", "msPerStep", "peakMiB", "savedMiB"],
  charts: (rows) => memoryBars(rows, "memory per step, plain backprop"),
  async run(config, ctx) {
    const rows: Row[] = [];
    if (config.models !== "vit") {
      const r = await runGptSmall(config, undefined, ctx.progress?.step, { training: ctx.training, id: "gpt-small" });
      rows.push(summaryRow("baseline", "gpt-small", r, { batch: config.gptBatch, context: GPT_PRESETS.small.context }));
    }
    if (config.models !== "gpt") {
      const r = await runVitSmall(config, undefined, ctx.progress?.step, { training: ctx.training, id: "vit-small" });
      rows.push(summaryRow("baseline", `vit-small/p${config.vitPatch}`, r, { batch: config.vitBatch }));
    }
    return rows;
  },
});
