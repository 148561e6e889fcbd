/**
 * Tables for notebooks and reports: HTML (`Deno.jupyter.html`, or a `text/html` output) and Markdown, with a label
 * (and unit) per column and numbers to about 3 significant digits, right-aligned.
 * @module
 */

/** One column of a table. */
export interface Column {
  /** The row key. */
  key: string;
  /** The header, with the unit, e.g. "step peak (MiB)". @default {the key} */
  label?: string;
  /** Formats a value of this column. @default {formatValue} */
  format?: (v: unknown) => string;
}

/** A table row: column key → value (numbers, strings, booleans; `null`/`undefined` show as "–"). */
export type TableRow = Readonly<Record<string, unknown>>;

/**
 * Formats a cell: numbers to about 3 significant digits (integers as they are, exponent notation below 0.001 and
 * from 1e6 up), `null`/`undefined` as "–", anything else as text.
 *
 * @example Usage
 * ```ts
 * import { formatValue } from "./table.ts";
 * formatValue(2.12345); // "2.12"
 * formatValue(197); // "197"
 * formatValue(null); // "–"
 * ```
 */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
  return String(Number(a >= 100 ? v.toFixed(1) : v.toPrecision(3)));
}

function cells(rows: readonly TableRow[], columns: readonly Column[]) {
  const numeric = columns.map((c) => rows.some((r) => typeof r[c.key] === "number"));
  const body = rows.map((r) => columns.map((c) => (c.format ?? formatValue)(r[c.key])));
  return { numeric, body, head: columns.map((c) => c.label ?? c.key) };
}

const escHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * An HTML table (numbers right-aligned), for `await Deno.jupyter.display({ "text/html": html }, { raw: true })` or
 * `Deno.jupyter.html`.
 *
 * @example Usage
 * ```ts
 * import { htmlTable } from "./table.ts";
 * const html = htmlTable([{ variant: "fp32", peak: 64.61 }], [{ key: "variant" }, { key: "peak", label: "step peak (MiB)" }]);
 * html.startsWith("<table"); // true
 * ```
 */
export function htmlTable(rows: readonly TableRow[], columns: readonly Column[]): string {
  const { numeric, body, head } = cells(rows, columns);
  const align = (j: number) => (numeric[j] ? ' style="text-align:right"' : ' style="text-align:left"');
  const th = head.map((h, j) => `<th${align(j)}>${escHtml(h)}</th>`).join("");
  const trs = body.map((r) => `<tr>${r.map((c, j) => `<td${align(j)}>${escHtml(c)}</td>`).join("")}</tr>`);
  return `<table><thead><tr>${th}</tr></thead><tbody>${trs.join("")}</tbody></table>`;
}

/**
 * A Markdown (GitHub) table, numbers right-aligned, columns padded to equal width (the layout `deno fmt` keeps);
 * `|` in cells is escaped.
 *
 * @example Usage
 * ```ts
 * import { markdownTable } from "./table.ts";
 * markdownTable([{ variant: "fp32", peak: 64.61 }], [{ key: "variant" }, { key: "peak", label: "peak (MiB)" }]);
 * // "| variant | peak (MiB) |\n| :------ | ---------: |\n| fp32    |       64.6 |"
 * ```
 */
export function markdownTable(rows: readonly TableRow[], columns: readonly Column[]): string {
  const { numeric, body, head } = cells(rows, columns);
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const all = [head, ...body].map((r) => r.map(esc));
  const len = (s: string) => [...s].length;
  const widths = head.map((_, j) => Math.max(3, ...all.map((r) => len(r[j]))));
  const pad = (
    c: string,
    j: number,
  ) => (numeric[j] ? " ".repeat(widths[j] - len(c)) + c : c + " ".repeat(widths[j] - len(c)));
  const line = (r: string[]) => `| ${r.map(pad).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, j) => (numeric[j] ? "-".repeat(w - 1) + ":" : ":" + "-".repeat(w - 1))).join(" | ")
  } |`;
  return [line(all[0]), rule, ...all.slice(1).map(line)].join("\n");
}
