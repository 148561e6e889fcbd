/**
 * Renders result rows as a compact plain-text table for the terminal: columns separated by two spaces, numbers
 * right-aligned to about 3 significant digits, one rule under the header and none between rows, one block per model
 * when the rows span several models. The JSON keeps every column; the table shows the experiment's `columns`.
 * @module
 */
import type { Row } from "./experiment.ts";

/**
 * Formats a number for a table cell: integers as-is, others to about 3 significant digits (one decimal from 100 up,
 * exponent notation below 0.001 and from 1e6 up), without trailing zeros.
 *
 * @example Usage
 * ```ts
 * import { formatNumber } from "./table.ts";
 * formatNumber(0.123456); // "0.123"
 * formatNumber(1234.567); // "1234.6"
 * formatNumber(42); // "42"
 * formatNumber(0.5); // "0.5"
 * ```
 */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-3) return x.toExponential(2);
  return String(Number(a >= 100 ? x.toFixed(1) : x.toPrecision(3)));
}

/** Formats one cell value; `null` becomes "-". */
export function formatCell(v: Row[string] | undefined): string {
  if (v === null || v === undefined) return "-";
  return typeof v === "number" ? formatNumber(v) : String(v);
}

/**
 * Column order: `preferred` (those present), then `technique` and `model`, then the rest in first-seen order.
 *
 * @example Usage
 * ```ts
 * import { columnOrder } from "./table.ts";
 * columnOrder([{ technique: "a", model: "m", loss: 1, ms: 2 }], ["loss"]); // ["loss", "technique", "model", "ms"]
 * ```
 */
export function columnOrder(rows: Row[], preferred: string[] = []): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const k of Object.keys(row)) seen.add(k);
  const order = [...preferred, "technique", "model", ...seen].filter((k) => seen.has(k));
  return [...new Set(order)];
}

/** Options for {@linkcode renderTable}. */
export interface RenderTableOptions {
  /** Show every column, not only the preferred ones. @default {false} */
  all?: boolean;
}

/** The widest a table line should be: wider tables split their long headers over two lines. */
const MAX_WIDTH = 140;

/** `h` split at the camelCase boundary that makes the longer part shortest (`["heapPeak", "Ratio"]`), or `[h]`. */
function splitHeader(h: string): string[] {
  let best = [h];
  for (let i = 1; i < h.length; i++) {
    if (!/[a-z0-9][A-Z]/.test(h.slice(i - 1, i + 1))) continue;
    const parts = [h.slice(0, i), h.slice(i)];
    if (Math.max(...parts.map((x) => x.length)) < Math.max(...best.map((x) => x.length))) best = parts;
  }
  return best;
}

/**
 * Lays out a header and cells as aligned text lines (numbers right-aligned), with a dashed rule under the header.
 * When the one-line layout is wider than {@linkcode MAX_WIDTH}, headers longer than their column's values go over
 * two lines. Returns the header lines, the rule and the cell lines.
 */
function layout(
  head: string[],
  cells: string[][],
  numeric: boolean[],
): { header: string[]; rule: string; lines: string[] } {
  const valueWidth = head.map((_, j) => Math.max(0, ...cells.map((r) => r[j].length)));
  const widthOf = (heads: string[][]) => heads.map((h, j) => Math.max(valueWidth[j], ...h.map((x) => x.length)));
  let heads = head.map((h) => [h]);
  let widths = widthOf(heads);
  if (widths.reduce((a, w) => a + w, 2 * (widths.length - 1)) > MAX_WIDTH) {
    heads = head.map((h, j) => (h.length > valueWidth[j] ? splitHeader(h) : [h]));
    widths = widthOf(heads);
  }
  const line = (r: string[]) =>
    r.map((c, j) => (numeric[j] ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join("  ").trimEnd();
  const two = heads.some((h) => h.length > 1);
  const header = two
    ? [line(heads.map((h) => (h.length > 1 ? h[0] : ""))), line(heads.map((h) => h[h.length - 1]))]
    : [line(head)];
  return { header, rule: widths.map((w) => "-".repeat(w)).join("  "), lines: cells.map(line) };
}

/**
 * Renders rows as a compact text table. With `preferred` columns (an experiment's `columns`), only those, plus
 * `technique` and `model`, are shown and a last line names the other columns (they are in the JSON); rows of several
 * models are shown in one block per model (`model: ...`, in first-seen order) without a model column.
 *
 * @example Usage
 * ```ts
 * import { renderTable } from "./table.ts";
 * console.log(renderTable([{ technique: "baseline", model: "gpt-tiny", loss: 2.3456 }]));
 * // technique  model     loss
 * // ---------  --------  ----
 * // baseline   gpt-tiny  2.35
 * ```
 */
export function renderTable(rows: Row[], preferred?: string[], options: RenderTableOptions = {}): string {
  if (rows.length === 0) return "(no rows)";
  const every = columnOrder(rows, preferred);
  const shown = preferred && !options.all
    ? every.filter((k) => preferred.includes(k) || k === "technique" || k === "model")
    : every;
  const hidden = every.filter((k) => !shown.includes(k));
  const models = [...new Set(rows.map((r) => String(r.model)))];
  const grouped = models.length > 1 && shown.includes("model");
  const head = grouped ? shown.filter((k) => k !== "model") : shown;
  const numeric = head.map((k) => rows.some((r) => typeof r[k] === "number"));
  const groups = grouped ? models.map((m) => rows.filter((r) => String(r.model) === m)) : [rows];
  const allCells = groups.map((g) => g.map((r) => head.map((k) => formatCell(r[k]))));
  // One set of widths for all blocks, so the blocks line up.
  const { header, rule, lines } = layout(head, allCells.flat(), numeric);
  let next = 0;
  const out: string[] = [];
  groups.forEach((g, i) => {
    if (grouped) out.push(`${i ? "\n" : ""}model: ${models[i]}`);
    out.push(...header, rule, ...lines.slice(next, next + g.length));
    next += g.length;
  });
  if (hidden.length) out.push(...wrapList("(also in the JSON: ", hidden, ")", 120));
  return out.join("\n");
}

/** `head` + `items` joined with ", " + `tail`, broken after a comma into lines of at most `width` characters. */
function wrapList(head: string, items: readonly string[], tail: string, width: number): string[] {
  const lines: string[] = [];
  let line = head;
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? "," : tail);
    if (line.length > head.length && line.length + 1 + piece.length > width) {
      lines.push(line);
      line = "  ";
    }
    line += (line === head || line === "  " ? "" : " ") + piece;
  });
  lines.push(line);
  return lines;
}
