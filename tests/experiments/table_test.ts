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

Deno.test("renderTable() draws a compact uncoloured table: one rule under the header, none between rows", () => {
  const text = renderTable([
    { technique: "baseline", model: "gpt", loss: 2.34567, note: null },
    { technique: "mesa-head-wise", model: "gpt", loss: 12.5, note: "x" },
  ]);
  assert.equal(
    text,
    [
      "technique       model  loss  note",
      "--------------  -----  ----  ----",
      "baseline        gpt    2.35  -",
      "mesa-head-wise  gpt    12.5  x",
    ].join("\n"),
  );
  assert.ok(!text.includes("\x1b["), "no ANSI escapes");
  assert.equal(renderTable([]), "(no rows)");
});

Deno.test("renderTable() shows the preferred columns, one block per model, and names the hidden columns", () => {
  const rows: Row[] = [
    { technique: "baseline", model: "gpt-L4", peakMiB: 197, msPerStep: 500, extra: 1 },
    { technique: "mesa", model: "gpt-L4", peakMiB: 114.5, msPerStep: 600, extra: 2 },
    { technique: "baseline", model: "vit", peakMiB: 64.6, msPerStep: 230, extra: 3 },
  ];
  assert.equal(
    renderTable(rows, ["technique", "model", "peakMiB", "msPerStep"]),
    [
      "model: gpt-L4",
      "technique  peakMiB  msPerStep",
      "---------  -------  ---------",
      "baseline       197        500",
      "mesa         114.5        600",
      "",
      "model: vit",
      "technique  peakMiB  msPerStep",
      "---------  -------  ---------",
      "baseline      64.6        230",
      "(also in the JSON: extra)",
    ].join("\n"),
  );
  assert.match(renderTable(rows, ["peakMiB"], { all: true }), /extra/);
});

Deno.test("the memory experiment's table fits a terminal: at most 140 characters a line, no rule between rows", async () => {
  const { memory } = await import("../../experiments/memory.ts");
  const url = new URL("../../experiments/results/memory/memory.json", import.meta.url);
  const rows: Row[] = JSON.parse(await Deno.readTextFile(url)).rows;
  assert.ok(rows.length >= 20, "the published memory result (28 rows)");
  const lines = renderTable(rows, memory.columns).split("\n");
  const widest = Math.max(...lines.map((l) => l.length));
  assert.ok(widest <= 140, `widest line: ${widest} characters`);
  const rules = lines.filter((l) => /^-[- ]*$/.test(l)).length;
  const blocks = lines.filter((l) => l.startsWith("model: ")).length;
  assert.equal(blocks, 4, "one block per model");
  assert.equal(rules, blocks, "one rule per block, under its header");
});
