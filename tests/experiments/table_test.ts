import assert from "node:assert/strict";
import { columnOrder, formatCell, formatNumber, renderTable } from "../../experiments/_lib/table.ts";
import type { Row } from "../../experiments/_lib/experiment.ts";

Deno.test("formatNumber() keeps about 3 significant digits", () => {
  assert.equal(formatNumber(42), "42");
  assert.equal(formatNumber(123456789), "123456789");
  assert.equal(formatNumber(0.123456), "0.123");
  assert.equal(formatNumber(2.34567), "2.35");
  assert.equal(formatNumber(12.3456), "12.3");
  assert.equal(formatNumber(1234.567), "1234.6");
  assert.equal(formatNumber(0.000123), "1.23e-4");
  assert.equal(formatNumber(0.5), "0.5");
  assert.equal(formatNumber(345.04), "345");
  assert.equal(formatNumber(1.5e7), "15000000");
  assert.equal(formatNumber(1.55e7 + 0.5), "1.55e+7");
  assert.equal(formatNumber(NaN), "NaN");
  assert.equal(formatNumber(-Infinity), "-inf");
});

Deno.test("formatCell() formats null, booleans and strings", () => {
  assert.equal(formatCell(null), "-");
  assert.equal(formatCell(true), "true");
  assert.equal(formatCell("adam"), "adam");
});

Deno.test("columnOrder() puts preferred, then technique and model, then first-seen keys", () => {
  const rows: Row[] = [{ technique: "a", model: "m", ms: 1 }, { technique: "b", model: "m", loss: 2, ms: 3 }];
  assert.deepEqual(columnOrder(rows), ["technique", "model", "ms", "loss"]);
  assert.deepEqual(columnOrder(rows, ["loss", "absent"]), ["loss", "technique", "model", "ms"]);
});

Deno.test("renderTable() draws an uncoloured table", () => {
  const text = renderTable([{ technique: "baseline", model: "gpt", loss: 2.34567, note: null }]);
  assert.ok(!text.includes("\x1b["), "no ANSI escapes");
  for (const s of ["technique", "baseline", "2.35", "-"]) assert.ok(text.includes(s), s);
  assert.equal(renderTable([]), "(no rows)");
});
