import assert from "node:assert/strict";
import { lineChartSvg } from "../../lib/viz/mod.ts";

Deno.test("lineChartSvg() draws one path and one legend entry per series", () => {
  const svg = lineChartSvg([
    { name: "plain", points: [[2, 10], [4, 20], [8, 40]] },
    { name: "sqrt <ckpt>", points: [[2, 5], [4, 7], [8, 9]] },
  ], { title: "memory", xLabel: "layers", yLabel: "MiB" });
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<path /g)?.length, 2);
  assert.equal(svg.match(/<circle /g)?.length, 6);
  assert.ok(svg.includes("sqrt &lt;ckpt&gt;"), "labels are escaped");
});

Deno.test("lineChartSvg() rejects empty input", () => {
  assert.throws(() => lineChartSvg([{ name: "a", points: [] }]), { name: "RangeError", message: /no points/ });
});

Deno.test("lineChartSvg() with yMin starts the y axis there, and xLog spaces x logarithmically", () => {
  const points: [number, number][] = [[10, 2.5], [100, 2.2], [1000, 2.1]];
  const svg = lineChartSvg([{ name: "T", points }], { yMin: 2, xLog: true, width: 560, height: 320 });
  const cx = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(cx.length, 3);
  // log10: 10 → 100 → 1000 are equally spaced.
  assert.ok(Math.abs((cx[1][0] - cx[0][0]) - (cx[2][0] - cx[1][0])) < 1e-6);
  // y = 2.5 is high on a 2..2.52 axis (near the top margin), y = 2.1 near the bottom.
  assert.ok(cx[0][1] < 60 && cx[2][1] > 200, JSON.stringify(cx));
  assert.ok(svg.includes(">2.2<") || svg.includes(">2.1<"), "y ticks start near yMin, not at 0");
  assert.ok(!svg.includes(">0<"), "no 0 tick");
  assert.throws(() => lineChartSvg([{ name: "a", points: [[0, 1]] }], { xLog: true }), /'xLog' needs every x > 0/);
});

Deno.test("lineChartSvg() labels round x ticks when a series has many points", () => {
  const points = Array.from({ length: 40 }, (_, i) => [10 * (i + 1), 1 / (i + 1)] as [number, number]);
  const svg = lineChartSvg([{ name: "loss", points }]);
  const xLabels = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">(\d+)<\/text>/g)].map((m) => m[1]);
  assert.ok(xLabels.length <= 9, `labels: ${xLabels}`);
  assert.ok(xLabels.includes("100") && xLabels.includes("400"));
});
