/**
 * `deno task experiment mesa`: fp32 saved activations vs Mesa 8-bit (per-tensor and head-wise), same seeds and
 * steps: ViT-small on Fashion-MNIST (test accuracy) and GPT-small on Moby Dick characters (validation loss), with the
 * memory columns. In the spirit of the Mesa README table (memory and top-1 without/with Mesa).
 * @module
 */
import { z } from "zod";
import { defineExperiment, type Row } from "./_lib/experiment.ts";
import { runGptSmall, runVitSmall, standardRunFields, standardRunQuick, summaryRow } from "./_lib/standard_runs.ts";
import { buildTechnique, TECHNIQUES } from "./_lib/techniques.ts";

const VARIANTS = ["baseline", "mesa-per-tensor", "mesa-head-wise"] as const;

/** The Mesa accuracy experiment. */
export const mesa = defineExperiment({
  name: "mesa",
  description: "fp32 vs Mesa 8-bit saved activations: accuracy/loss and memory on ViT-small and GPT-small",
  schema: z.object({
    models: z.enum(["both", "gpt", "vit"]).default("both").describe("which models to train"),
    variants: z.array(z.enum(VARIANTS)).default([...VARIANTS]).describe("fp32 baseline and Mesa groupings to run"),
    ...standardRunFields,
  }).strict(),
  quick: standardRunQuick,
  columns: ["technique", "model", "steps", "loss", "valLoss", "accuracy", "msPerStep", "peakMiB", "savedMiB"],
  async run(config, ctx) {
    const rows: Row[] = [];
    for (const which of ["vit", "gpt"] as const) {
      if (config.models !== "both" && config.models !== which) continue;
      for (const name of config.variants) {
        ctx.log(`${which}: ${name}`);
        const tech = buildTechnique(TECHNIQUES[name], config.seed);
        try {
          const r = which === "vit"
            ? await runVitSmall(config, tech.source, ctx.log)
            : await runGptSmall(config, tech.source, ctx.log);
          rows.push(summaryRow(name, which === "vit" ? `vit-small/p${config.vitPatch}` : "gpt-small", r));
        } finally {
          tech.dispose();
        }
      }
    }
    return rows;
  },
});
