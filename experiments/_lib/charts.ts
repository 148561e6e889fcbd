/**
 * Chart builders the experiments' `charts` share (rendered by `deno task report`).
 * @module
 */
import { barChartSpec, tradeoffSpec } from "../../lib/viz/mod.ts";
import type { NamedChart, Row } from "./experiment.ts";

/** A row's label: its technique, with the model when the rows span several models. */
function label(row: Row, rows: readonly Row[]): string {
  const models = new Set(rows.map((r) => r.model));
  return models.size > 1 ? `${row.model}: ${row.technique}` : String(row.technique);
}

/**
 * Saved-activation and whole-step peak MiB per row (bars grouped by measure); none when the rows have neither.
 *
 * @example Usage
 * ```ts
 * import { memoryBars } from "./charts.ts";
 * memoryBars([{ technique: "baseline", model: "gpt", savedMiB: 4.9, peakMiB: 6.9 }]).length; // 1
 * ```
 */
export function memoryBars(rows: readonly Row[], title = "memory per step"): NamedChart[] {
  const data = rows.flatMap((r) => [
    ...(typeof r.savedMiB === "number"
      ? [{ label: label(r, rows), group: "saved activations", value: r.savedMiB }]
      : []),
    ...(typeof r.peakMiB === "number" ? [{ label: label(r, rows), group: "whole-step peak", value: r.peakMiB }] : []),
  ]);
  if (data.length === 0) return [];
  return [{ name: "memory", caption: `${title} (MiB)`, spec: barChartSpec(data, { title, yLabel: "MiB" }) }];
}

/**
 * The memory experiment's charts: the whole-step peak of every technique as a ratio to plain backprop, per model, and
 * the time-vs-memory trade-off on the deepest GPT: the most saved-activation bytes held at any moment (the memory a
 * technique changes; `peakSavedRatio`, else the whole-step peak ratio) against the time ratio.
 */
export function memoryCharts(rows: readonly Row[]): NamedChart[] {
  const withRatios = rows.filter((r) => typeof r.peakRatio === "number" && typeof r.timeRatio === "number");
  // Only the baseline (e.g. one setting's run to compare with another result): no ratio to chart.
  if (!withRatios.some((r) => r.technique !== "baseline")) return [];
  const charts: NamedChart[] = [{
    name: "peak",
    caption: "whole-step peak of each technique as a ratio to plain backprop, per model",
    spec: barChartSpec(
      withRatios.filter((r) => r.technique !== "baseline").map((r) => ({
        label: String(r.technique),
        group: String(r.model),
        value: Number(r.peakRatio),
      })),
      { title: "whole-step peak / plain backprop", yLabel: "peak ratio", width: 520 },
    ),
  }];
  const depth = (m: string) => Number(/-L(\d+)/.exec(m)?.[1] ?? 0);
  const models = [...new Set(withRatios.map((r) => String(r.model)))];
  const deepest = models.sort((a, b) => depth(b) - depth(a))[0];
  const points = withRatios.filter((r) => r.model === deepest);
  const saved = points.every((r) => typeof r.peakSavedRatio === "number");
  charts.push({
    name: "tradeoff",
    caption: `time vs memory on ${deepest}: ratios to plain backprop (bottom left is best)`,
    spec: tradeoffSpec(
      points.map((r) => ({
        label: String(r.technique),
        memory: Number(saved ? r.peakSavedRatio : r.peakRatio),
        time: Number(r.timeRatio),
      })),
      {
        title: `time vs memory, ${deepest}`,
        xLabel: saved ? "peak saved activations / plain backprop" : "whole-step peak / plain backprop",
        yLabel: "ms/step / plain backprop",
      },
    ),
  });
  return charts;
}
