/**
 * Renders result rows as a plain-text table (cli-table3, no colours).
 * @module
 */
import Table from "cli-table3";
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

/**
 * Renders rows as a boxed text table with right-aligned numbers and uncoloured headers.
 *
 * @example Usage
 * ```ts
 * import { renderTable } from "./table.ts";
 * console.log(renderTable([{ technique: "baseline", model: "gpt-tiny", loss: 2.3456 }]));
 * ```
 */
export function renderTable(rows: Row[], preferred?: string[]): string {
  if (rows.length === 0) return "(no rows)";
  const head = columnOrder(rows, preferred);
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) {
    table.push(
      head.map((k) => ({ content: formatCell(row[k]), hAlign: typeof row[k] === "number" ? "right" : "left" })),
    );
  }
  return table.toString();
}
