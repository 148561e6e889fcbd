/** The streambp experiment's quick preset: every row kind, budgets respected, ratios against checkpointing. */
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend/mod.ts";
import { streambp } from "../../experiments/streambp.ts";
import { runCellsInOrder } from "../../experiments/_lib/experiment.ts";

Deno.test("streambp --quick: max length within the budget, every candidate measured, ratios to checkpointing", async () => {
  await initBackend({ backend: "wasm" });
  const config = streambp.schema.parse({ ...streambp.quick, limit: 1024 });
  const rows = await runCellsInOrder(streambp, config, { quick: true, log: () => {}, outDir: "/tmp" });
  const max = rows.filter((r) => r.kind === "maxLength");
  assert.deepEqual(max.map((r) => r.technique), ["checkpoint-every", "streambp-c32", "streambp-c64-l16-s2048"]);
  for (const r of max) {
    assert.ok(Number(r.peakMiB) <= Number(r.budgetMiB), `${r.technique}: ${r.peakMiB} MiB > budget`);
    const points = rows.filter((p) => p.kind === "point" && p.technique === r.technique);
    assert.equal(points.length, r.measured);
    assert.ok(points.some((p) => p.t === r.maxT && p.peakMiB === r.peakMiB), `${r.technique}: answer measured`);
    assert.ok(
      points.some((p) => Number(p.t) > Number(r.maxT) && Number(p.peakMiB) > Number(r.budgetMiB)) ||
        r.maxT === config.limit,
    );
  }
  assert.equal(max[0].lengthRatio, 1);
  assert.ok(Number(max[1].lengthRatio) > 1, `StreamBP fits a longer sequence: ${max[1].lengthRatio}`);
  const time = rows.filter((r) => r.kind === "time");
  assert.equal(time.find((r) => r.technique === "checkpoint-every")!.timeRatio, 1);
  assert.ok(time.every((r) => Number(r.msPerToken) > 0 && Number(r.stepPeakMiB) > 0));
  const ablation = rows.filter((r) => r.kind === "ablation");
  assert.deepEqual(ablation.map((r) => r.technique), [
    "streambp-c32",
    "streambp-recompute-c32",
    "streambp-c128",
    "streambp-recompute-c128",
  ]);
  // Same loss whichever way the prefix keys/values are obtained.
  assert.ok(Math.abs(Number(ablation[0].loss) - Number(ablation[1].loss)) <= 1e-5 * Number(ablation[0].loss));
});

Deno.test("streambp: a variant's max-length cell carries its head chunk and score cap (not only its block chunk)", () => {
  const config = streambp.schema.parse({ ...streambp.quick, variants: ["64/16@2048", "48"] });
  const cells = streambp.cells!(config).filter((c) => c.kind === "maxLength");
  const byLabel = new Map(cells.map((c) => [c.label, c]));
  assert.deepEqual(
    { ...byLabel.get("streambp-c64-l16-s2048") },
    {
      kind: "maxLength",
      label: "streambp-c64-l16-s2048",
      technique: "streambp",
      chunk: 64,
      logitsChunk: 16,
      maxScores: 2048,
      budgetMiB: 12,
    },
  );
  assert.equal(byLabel.get("streambp-c48")?.logitsChunk, 0);
  assert.equal(byLabel.get("streambp-c48")?.maxScores, 0);
});
