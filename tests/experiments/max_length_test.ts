import assert from "node:assert/strict";
import { searchMaxLength } from "../../experiments/_lib/max_length.ts";

Deno.test("searchMaxLength() finds the longest fitting length of linear and quadratic memory curves", () => {
  const curves: [string, (t: number) => number, number][] = [
    ["linear", (t) => 5e6 + 12_000 * t, 8e7],
    ["quadratic", (t) => 5e6 + 70_000 * t + 64 * t * t, 8e7],
    ["step", (t) => (t <= 1000 ? 1 : 2), 1.5],
  ];
  for (const [name, peak, budget] of curves) {
    for (const start of [64, 256, 5000]) {
      const r = searchMaxLength(peak, { budget, start, quantum: 8, resolution: 0 });
      // Every answer is measured, fits, and the next multiple of the quantum does not.
      assert.ok(r.points.some((p) => p.t === r.maxT && p.peak === r.peakAtMax), `${name}: answer measured`);
      assert.ok(peak(r.maxT) <= budget && peak(r.maxT + 8) > budget, `${name} from ${start}: ${r.maxT}`);
      assert.equal(r.firstMiss, r.maxT + 8);
      assert.ok(r.points.length <= 24, `${name} from ${start}: ${r.points.length} measurements`);
    }
  }
});

Deno.test("searchMaxLength() stops at the resolution, honours the limit, and reports 0 when nothing fits", () => {
  const peak = (t: number) => 100 * t;
  const coarse = searchMaxLength(peak, { budget: 1e6, start: 64, quantum: 8, resolution: 0.05 });
  assert.ok(coarse.maxT <= 10_000 && coarse.maxT >= 9_500 && coarse.firstMiss - coarse.maxT <= 0.05 * coarse.maxT);
  const capped = searchMaxLength(peak, { budget: 1e9, start: 64, limit: 4096 });
  assert.equal(capped.maxT, 4096);
  assert.equal(capped.firstMiss, Infinity);
  const none = searchMaxLength(() => 10, { budget: 1, start: 64, quantum: 8 });
  assert.equal(none.maxT, 0);
  assert.equal(none.firstMiss, 8);
  assert.throws(() => searchMaxLength(peak, { budget: 0, start: 64 }), /'budget' must be > 0/);
  assert.throws(() => searchMaxLength(peak, { budget: 1, start: 0 }), /'start' must be a positive integer/);
});
