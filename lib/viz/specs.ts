/**
 * Vega-Lite spec builders for memtrain's charts: lines (loss curves, memory against depth), grouped bars (memory or
 * time per setting) and the time-vs-memory trade-off scatter. Each returns a plain spec; render it with
 * `renderSvg` or show it in a notebook with `chartBundle` (`render.ts`).
 * @module
 */
import { checkChartSize } from "./size.ts";
import type { Series } from "./line_chart.ts";
import type { ChartSpec } from "./render.ts";

/** Options every chart takes. */
export interface ChartOptions {
  /** Chart title. */
  title?: string;
  /** X axis title (with its unit). */
  xLabel?: string;
  /** Y axis title (with its unit). */
  yLabel?: string;
  /** Plot width in px. @default {420} */
  width?: number;
  /** Plot height in px. @default {260} */
  height?: number;
}

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

function frame(options: ChartOptions) {
  checkChartSize("a chart", options);
  return {
    $schema: SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    width: options.width ?? 420,
    height: options.height ?? 260,
    background: "white",
    config: { font: "sans-serif", view: { stroke: "#ddd" }, legend: { labelLimit: 260 } },
  };
}

function nonEmpty(what: string, n: number): void {
  if (n === 0) throw new RangeError(`Cannot build ${what}: no data points: current value is 0 points`);
}

/** Options for {@linkcode lineChartSpec}. */
export interface LineChartSpecOptions extends ChartOptions {
  /** Mark each point. @default {true} */
  points?: boolean;
  /** Start the y axis at 0. @default {true} */
  zeroY?: boolean;
  /** Log-scale x axis (depths, sizes). @default {false} */
  logX?: boolean;
}

/**
 * One line per series (`[x, y]` points, drawn in order), with a legend. Memory against depth, loss against step.
 *
 * @example Usage
 * ```ts
 * import { lineChartSpec, renderSvg } from "./mod.ts";
 * const spec = lineChartSpec([{ name: "plain", points: [[2, 10], [4, 20]] }, { name: "sqrt", points: [[2, 5], [4, 7]] }], {
 *   title: "saved activations vs depth", xLabel: "layers", yLabel: "MiB",
 * });
 * const svg = await renderSvg(spec); // an SVG document
 * ```
 * @throws {RangeError} when no series has a point.
 */
export function lineChartSpec(series: Series[], options: LineChartSpecOptions = {}): ChartSpec {
  const values = series.flatMap((s) => s.points.map(([x, y], i) => ({ series: s.name, x, y, order: i })));
  nonEmpty("a line chart", values.length);
  return {
    ...frame(options),
    data: { values },
    mark: { type: "line", point: options.points ?? true, strokeWidth: 2 },
    encoding: {
      x: {
        field: "x",
        type: "quantitative",
        title: options.xLabel ?? "x",
        ...(options.logX ? { scale: { type: "log" } } : {}),
      },
      y: { field: "y", type: "quantitative", title: options.yLabel ?? "y", scale: { zero: options.zeroY ?? true } },
      color: { field: "series", type: "nominal", title: null, sort: series.map((s) => s.name) },
      order: { field: "order", type: "quantitative" },
      tooltip: [{ field: "series" }, { field: "x", type: "quantitative" }, { field: "y", type: "quantitative" }],
    },
  } as ChartSpec;
}

/**
 * Training-loss curves: one line per run, step on x, loss on y (not from 0), no point marks.
 *
 * @example Usage
 * ```ts
 * import { lossCurveSpec } from "./mod.ts";
 * const spec = lossCurveSpec([{ name: "fp32", points: [[1, 4.4], [2, 3.9], [3, 3.5]] }]);
 * ```
 * @throws {RangeError} when no series has a point.
 */
export function lossCurveSpec(series: Series[], options: ChartOptions = {}): ChartSpec {
  return lineChartSpec(series, {
    xLabel: "step",
    yLabel: "training loss (nats)",
    ...options,
    points: false,
    zeroY: false,
  });
}

/** One bar of {@linkcode barChartSpec}. */
export interface BarDatum {
  /** The setting on the x axis (a technique, a variant). */
  label: string;
  /** The bar's height. */
  value: number;
  /** Bars of one label are grouped side by side by this (a model, a depth). @default {one group} */
  group?: string;
}

/**
 * Grouped bars: one group of bars per label (in the order given), one colour per group value. Memory or time per
 * setting.
 *
 * @example Usage
 * ```ts
 * import { barChartSpec } from "./mod.ts";
 * const spec = barChartSpec([
 *   { label: "baseline", group: "GPT L4", value: 197 },
 *   { label: "mesa", group: "GPT L4", value: 114.5 },
 * ], { yLabel: "step peak (MiB)" });
 * ```
 * @throws {RangeError} when `data` is empty.
 */
export function barChartSpec(data: BarDatum[], options: ChartOptions = {}): ChartSpec {
  nonEmpty("a bar chart", data.length);
  const grouped = data.some((d) => d.group !== undefined);
  const values = data.map((d) => ({ label: d.label, value: d.value, group: d.group ?? "" }));
  const labels = [...new Set(data.map((d) => d.label))];
  return {
    ...frame(options),
    data: { values },
    mark: { type: "bar" },
    encoding: {
      x: { field: "label", type: "nominal", title: options.xLabel ?? null, sort: labels, axis: { labelAngle: -30 } },
      y: { field: "value", type: "quantitative", title: options.yLabel ?? "value" },
      ...(grouped
        ? {
          xOffset: { field: "group", type: "nominal", sort: [...new Set(values.map((v) => v.group))] },
          color: { field: "group", type: "nominal", title: null, sort: [...new Set(values.map((v) => v.group))] },
        }
        : {}),
      tooltip: [{ field: "label" }, { field: "group" }, { field: "value", type: "quantitative", format: ".3~g" }],
    },
  } as ChartSpec;
}

/** One setting of {@linkcode tradeoffSpec}. */
export interface TradeoffPoint {
  /** The setting's name, written next to its point. */
  label: string;
  /** Memory, e.g. the step peak as a ratio to the baseline. */
  memory: number;
  /** Time, e.g. ms/step as a ratio to the baseline. */
  time: number;
  /** Colour group (a model). @default {one group} */
  group?: string;
}

/**
 * The time-vs-memory trade-off: one labelled point per setting, memory on x and time on y (bottom left is best).
 *
 * @example Usage
 * ```ts
 * import { tradeoffSpec } from "./mod.ts";
 * const spec = tradeoffSpec([
 *   { label: "baseline", memory: 1, time: 1 },
 *   { label: "checkpoint-sqrt", memory: 0.56, time: 1.38 },
 * ], { xLabel: "step peak / baseline", yLabel: "ms/step / baseline" });
 * ```
 * @throws {RangeError} when `points` is empty.
 */
export function tradeoffSpec(points: TradeoffPoint[], options: ChartOptions = {}): ChartSpec {
  nonEmpty("a trade-off chart", points.length);
  const values = points.map((p) => ({ ...p, group: p.group ?? "" }));
  const grouped = points.some((p) => p.group !== undefined);
  const x = { field: "memory", type: "quantitative", title: options.xLabel ?? "memory", scale: { zero: false } };
  const y = { field: "time", type: "quantitative", title: options.yLabel ?? "time", scale: { zero: false } };
  const color = grouped ? { color: { field: "group", type: "nominal", title: null } } : {};
  return {
    ...frame(options),
    data: { values },
    layer: [
      {
        mark: { type: "point", filled: true, size: 70 },
        encoding: { x, y, ...color, tooltip: [{ field: "label" }, { field: "group" }, x, y] },
      },
      {
        mark: { type: "text", align: "left", dx: 6, dy: -6, fontSize: 10 },
        encoding: { x, y, text: { field: "label" }, ...color },
      },
    ],
  } as ChartSpec;
}
