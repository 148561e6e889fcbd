/**
 * `deno task experiment mesa-ranges`: how far each batch reaches beyond Mesa's running (EMA) range while GPT-small
 * trains, per saved-tensor role. The Mesa paper's ablation "EMA range vs per-batch min/max" in small: it explains why
 * clamping to the EMA range (`outOfRange: "clamp"`) hurts the GPT (residual-stream LayerNorm inputs are heavy-tailed).
 * @module
 */
import { z } from "zod";
import { mesa } from "../lib/mesa/mod.ts";
import { barChartSpec } from "../lib/viz/mod.ts";
import { defineExperiment } from "./_lib/experiment.ts";
import { runGptSmall, standardRunFields, standardRunQuick } from "./_lib/standard_runs.ts";
import { composeTechniques } from "./_lib/technique_cli.ts";

interface Overshoot {
  /** Sum over sampled (update, group) of the overshoot beyond the range, in units of the range. */
  sum: number;
  /** Largest overshoot seen. */
  max: number;
  /** Sampled (update, group) pairs whose batch reached beyond the range. */
  beyond: number;
  /** Sampled (update, group) pairs. */
  n: number;
}

/** The role of a saved-tensor tag: its last two path parts, e.g. "blocks.2.ln1.input" → "ln1.input". */
function roleOf(tag: string): string {
  return tag.split(".").slice(-2).join(".");
}

/** The Mesa range experiment. */
export const mesaRanges = defineExperiment({
  name: "mesa-ranges",
  description: "GPT-small with Mesa: how far batches reach beyond the EMA running range, per saved-tensor role",
  schema: z.object({
    grouping: z.enum(["per-tensor", "head-wise"]).default("head-wise").describe("Mesa grouping"),
    outOfRange: z.enum(["clamp", "expand"]).default("clamp").describe("Mesa's treatment of values beyond the range"),
    emaDecay: z.number().min(0).lt(1).default(0.9).describe("EMA decay of the running ranges"),
    every: z.number().int().positive().default(7).describe(
      "sample every N-th range update (each downloads 4·G floats)",
    ),
    ...standardRunFields,
  }).strict(),
  quick: standardRunQuick,
  columns: ["technique", "role", "tensors", "meanOvershoot", "maxOvershoot", "beyondShare", "samples", "valLoss"],
  charts: (rows) =>
    rows.length === 0 ? [] : [{
      name: "overshoot",
      caption: "how far batches reach beyond the EMA range, per saved-tensor role (mean, in % of the range)",
      spec: barChartSpec(
        rows.map((r) => ({ label: String(r.role), value: 100 * Number(r.meanOvershoot) })),
        { title: "mean overshoot beyond the running range", yLabel: "% of the range" },
      ),
    }],
  async run(config, ctx) {
    // Built by hand (not from the techniques table) to observe the running ranges; its defaults differ (clamp).
    const m = mesa({ grouping: config.grouping, outOfRange: config.outOfRange, emaDecay: config.emaDecay });
    const stats = new Map<string, Overshoot>();
    const tags = new Map<string, Set<string>>();
    let updates = 0;
    const stop = m.state.observe((tag, batch, range) => {
      if (++updates % config.every !== 0) return;
      const a = range.alpha.dataSync(), b = range.beta.dataSync();
      const mn = batch.min.dataSync(), mx = batch.max.dataSync();
      const role = roleOf(tag);
      const s = stats.get(role) ?? { sum: 0, max: 0, beyond: 0, n: 0 };
      for (let g = 0; g < a.length; g++) {
        const span = Math.max(a[g], 1e-12);
        // How far the batch's max lies above β + α and its min below β, in units of α.
        const over = Math.max(0, (mx[g] - (b[g] + a[g])) / span) + Math.max(0, (b[g] - mn[g]) / span);
        s.sum += over;
        s.max = Math.max(s.max, over);
        if (over > 0) s.beyond++;
        s.n++;
      }
      stats.set(role, s);
      if (!tags.has(role)) tags.set(role, new Set());
      tags.get(role)!.add(tag);
    });
    try {
      const technique = `mesa-${config.grouping} (${config.outOfRange})`;
      const r = await runGptSmall(
        config,
        composeTechniques(technique, ["mesa"], [{ selector: m.selector }]),
        ctx.progress?.step,
      );
      const rows = [...stats].map(([role, s]) => ({
        technique,
        model: "gpt-small",
        role,
        tensors: tags.get(role)!.size,
        meanOvershoot: s.sum / s.n,
        maxOvershoot: s.max,
        beyondShare: s.beyond / s.n,
        samples: s.n,
        valLoss: r.evalLoss,
      }));
      return rows.sort((x, y) => y.meanOvershoot - x.meanOvershoot);
    } finally {
      stop();
      m.dispose();
    }
  },
});
