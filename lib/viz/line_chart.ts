/**
 * A dependency-free SVG line chart, superseded by the Vega-Lite charts (`lineChartSpec` + `renderSvg` in this
 * folder), kept while notebooks still use it.
 * @module
 */

import { checkChartSize } from "./size.ts";

/** One line of a chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** Points `[x, y]`, drawn in order. */
  points: [number, number][];
}

/** Options for {@linkcode lineChartSvg}. */
export interface LineChartOptions {
  /** Chart title. */
  title?: string;
  /** X axis label. */
  xLabel?: string;
  /** Y axis label. */
  yLabel?: string;
  /** Width in px. @default {560} */
  width?: number;
  /** Height in px. @default {320} */
  height?: number;
  /** Bottom of the y axis (e.g. just below the data for loss curves). @default {0} */
  yMin?: number;
  /** Logarithmic x axis (all x must be > 0; the ticks are the data's x values). @default {false} */
  xLog?: boolean;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / n));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(+v.toPrecision(6));
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Renders series as an SVG line chart (linear axes, y from 0).
 *
 * @deprecated Superseded by `lineChartSpec(series, options)` rendered with `renderSvg` (or shown in a notebook with
 * `chartBundle`), which adds tooltips, a native notebook chart and a well-kept renderer. Kept, working, until the
 * notebooks that call it move over.
 *
 * @example Usage
 * ```ts
 * import { lineChartSvg } from "./line_chart.ts";
 * const svg = lineChartSvg([{ name: "plain", points: [[1, 2], [2, 4]] }], { xLabel: "layers", yLabel: "MiB" });
 * svg.startsWith("<svg"); // true
 * ```
 * @throws {RangeError} when no series has a point.
 */
export function lineChartSvg(series: Series[], options: LineChartOptions = {}): string {
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) throw new RangeError("Cannot draw a line chart: no points in any series");
  checkChartSize("a line chart", options);
  const w = options.width ?? 560, h = options.height ?? 320;
  const m = { l: 60, r: 150, t: options.title ? 30 : 12, b: 45 };
  const fx = options.xLog ? Math.log10 : (x: number) => x;
  if (options.xLog && pts.some((p) => !(p[0] > 0))) {
    throw new RangeError("Cannot draw a line chart: 'xLog' needs every x > 0");
  }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = fx(Math.min(...xs)), x1 = fx(Math.max(...xs));
  const y0 = options.yMin ?? 0;
  const top = Math.max(...ys, y0);
  const y1 = y0 === 0 ? top * 1.05 || 1 : top + 0.05 * (top - y0 || 1);
  const sx = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((y - y0) / (y1 - y0)) * (h - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
  ];
  if (options.title) {
    parts.push(`<text x="${w / 2}" y="18" text-anchor="middle" font-size="13">${esc(options.title)}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 5}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  // Every distinct x is labelled, unless there are too many (then round ticks on a linear axis).
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const xTicks = distinct.length > 12 && !options.xLog ? ticks(Math.min(...xs), Math.max(...xs), 8) : distinct;
  for (const t of xTicks) {
    parts.push(`<text x="${sx(t)}" y="${h - m.b + 15}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${h - m.b}" y2="${h - m.b}" stroke="black"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${h - m.b}" stroke="black"/>`);
  if (options.xLabel) {
    parts.push(`<text x="${(m.l + w - m.r) / 2}" y="${h - 8}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  }
  if (options.yLabel) {
    parts.push(
      `<text transform="translate(14 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">${
        esc(options.yLabel)
      }</text>`,
    );
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of s.points) parts.push(`<circle cx="${sx(p[0])}" cy="${sy(p[1])}" r="3" fill="${c}"/>`);
    parts.push(`<rect x="${w - m.r + 10}" y="${m.t + 14 * i}" width="10" height="10" fill="${c}"/>`);
    parts.push(`<text x="${w - m.r + 25}" y="${m.t + 9 + 14 * i}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
