import assert from "node:assert/strict";
import {
  barChartSpec,
  chartBundle,
  htmlTable,
  lineChartSpec,
  lossCurveSpec,
  markdownTable,
  renderSvg,
  tradeoffSpec,
  VEGALITE_MIME,
} from "../../lib/viz/mod.ts";

/** The number of SVG groups of data marks of `kind` (vega draws one `<g class="mark-KIND role-mark ...">` each). */
const markGroups = (svg: string, kind: string) =>
  svg.match(new RegExp(`class="mark-${kind} role-mark`, "g"))?.length ?? 0;
/** The number of `<path>` elements inside the data-mark groups of `kind`. */
function markPaths(svg: string, kind: string): number {
  const at = svg.indexOf(`class="mark-${kind} role-mark`);
  if (at < 0) return 0;
  const end = svg.indexOf("</g>", at);
  return svg.slice(at, end).match(/<path /g)?.length ?? 0;
}

Deno.test("lineChartSpec() renders one line per series, with titles and escaped legend labels", async () => {
  const spec = lineChartSpec([
    { name: "plain <ckpt>", points: [[2, 10], [4, 20], [8, 40]] },
    { name: "sqrt", points: [[2, 5], [4, 7], [8, 9]] },
  ], { title: "peak saved vs depth", xLabel: "layers", yLabel: "MiB" });
  const svg = await renderSvg(spec);
  assert.match(svg, /^<svg /);
  assert.equal(markGroups(svg, "line"), 2, "two lines (vega draws a group per series)");
  assert.equal(markPaths(svg, "symbol"), 6, "a point per data point");
  assert.ok(svg.includes("plain &lt;ckpt&gt;"), "labels are escaped");
  for (const t of ["peak saved vs depth", ">layers<", ">MiB<"]) assert.ok(svg.includes(t), t);
  assert.deepEqual((spec as { data: { values: unknown[] } }).data.values.length, 6);
});

Deno.test("lossCurveSpec() draws lines without point marks and a y axis not from zero", async () => {
  const spec = lossCurveSpec([{ name: "fp32", points: [[1, 4.4], [2, 3.9], [3, 3.5]] }]);
  const enc = (spec as { encoding: { y: { scale: { zero: boolean }; title: string } } }).encoding;
  assert.equal(enc.y.scale.zero, false);
  assert.equal(enc.y.title, "training loss (nats)");
  const svg = await renderSvg(spec);
  assert.equal(markGroups(svg, "line"), 1);
  assert.equal(markGroups(svg, "symbol"), 0, "no point marks");
});

Deno.test("barChartSpec() draws one bar per datum, grouped with a legend", async () => {
  const svg = await renderSvg(barChartSpec([
    { label: "baseline", group: "GPT L4", value: 197 },
    { label: "mesa", group: "GPT L4", value: 114.5 },
    { label: "baseline", group: "GPT L8", value: 300 },
    { label: "mesa", group: "GPT L8", value: 150 },
  ], { yLabel: "step peak (MiB)" }));
  assert.equal(markPaths(svg, "rect"), 4);
  for (const t of [">GPT L4<", ">GPT L8<", ">step peak (MiB)<"]) assert.ok(svg.includes(t), t);
});

Deno.test("tradeoffSpec() draws a labelled point per setting", async () => {
  const svg = await renderSvg(tradeoffSpec([
    { label: "baseline", memory: 1, time: 1 },
    { label: "checkpoint-sqrt", memory: 0.56, time: 1.38 },
    { label: "mesa-head-wise", memory: 0.5, time: 1.19 },
  ], { xLabel: "peak / baseline", yLabel: "time / baseline" }));
  assert.equal(markPaths(svg, "symbol"), 3);
  for (const t of [">checkpoint-sqrt<", ">mesa-head-wise<", ">peak / baseline<"]) assert.ok(svg.includes(t), t);
});

Deno.test("spec builders reject empty data; renderSvg rejects a spec that does not compile", async () => {
  assert.throws(() => lineChartSpec([{ name: "a", points: [] }]), { name: "RangeError", message: /no data points/ });
  assert.throws(() => barChartSpec([]), RangeError);
  assert.throws(() => tradeoffSpec([]), RangeError);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(() => renderSvg({ mark: "nonsense" } as any), {
    name: "TypeError",
    message: /does not compile/,
  });
});

Deno.test("chartBundle() holds the spec under the Vega-Lite MIME type and the SVG fallback", async () => {
  const spec = lineChartSpec([{ name: "a", points: [[0, 1], [1, 2]] }], { title: "t" });
  const bundle = await chartBundle(spec);
  assert.equal(VEGALITE_MIME, "application/vnd.vegalite.v5+json");
  assert.equal(bundle[VEGALITE_MIME], spec);
  assert.match(String(bundle["image/svg+xml"]), /^<svg /);
  assert.equal(bundle["text/plain"], "<chart: t>");
});

Deno.test("htmlTable() and markdownTable(): labels with units, numbers right-aligned to 3 digits", () => {
  const rows = [{ v: "fp32", peak: 64.6123, acc: 0.86071, note: null }, {
    v: "a|b",
    peak: 35.4,
    acc: 0.8613,
    note: "<x>",
  }];
  const cols = [{ key: "v", label: "variant" }, { key: "peak", label: "step peak (MiB)" }, { key: "acc" }, {
    key: "note",
  }];
  assert.equal(
    markdownTable(rows, cols),
    [
      "| variant | step peak (MiB) |   acc | note |",
      "| :------ | --------------: | ----: | :--- |",
      "| fp32    |            64.6 | 0.861 | –    |",
      "| a\\|b    |            35.4 | 0.861 | <x>  |",
    ].join("\n"),
  );
  const html = htmlTable(rows, cols);
  assert.ok(html.startsWith('<table><thead><tr><th style="text-align:left">variant</th>'));
  assert.ok(html.includes('<td style="text-align:right">64.6</td>'));
  assert.ok(html.includes("&lt;x&gt;") && !html.includes("<x>"), "cells are escaped");
});
