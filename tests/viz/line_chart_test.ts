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
