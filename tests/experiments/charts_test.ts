import assert from "node:assert/strict";
import { memoryCharts } from "../../experiments/_lib/charts.ts";

const row = (technique: string, peakRatio: number, timeRatio: number) => ({
  technique,
  model: "gpt-small-L4/B16",
  peakRatio,
  timeRatio,
});

Deno.test("memoryCharts: a peak chart and a trade-off chart; none for a result holding only the baseline", () => {
  assert.deepEqual(memoryCharts([row("baseline", 1, 1)]), []);
  assert.deepEqual(memoryCharts([]), []);
  const charts = memoryCharts([row("baseline", 1, 1), row("mesa-head-wise", 0.55, 1.2)]);
  assert.deepEqual(charts.map((c) => c.name), ["peak", "tradeoff"]);
});
