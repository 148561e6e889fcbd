import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../../lib/backend/mod.ts";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { runCellsInOrder } from "../../experiments/_lib/experiment.ts";
import { guardCost } from "../../experiments/guard_cost.ts";

await initBackend();

Deno.test("guard-cost --quick: one row of paired on/off timings, nothing leaked", async () => {
  const config = resolveConfig(guardCost, [], true);
  const before = tf.memory().numTensors;
  const rows = await runCellsInOrder(guardCost, config, { quick: true, log: () => {}, outDir: "" });
  assert.equal(rows.length, 1);
  const [r] = rows;
  assert.equal(r.timedSteps, config.steps - config.warmup);
  assert.equal(r.backend, backendInfo()!.name, "memtrain's backend name (blas, not the tfjs backend it patches)");
  assert.ok(Number(r.onMs) > 0 && Number(r.offMs) > 0, JSON.stringify(r));
  assert.ok(Number.isFinite(r.meanOverheadPct) && Number.isFinite(r.medianOverheadPct), JSON.stringify(r));
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("guard-cost refuses a warm-up as long as the run", async () => {
  const config = resolveConfig(guardCost, [{ key: "steps", value: "3" }, { key: "warmup", value: "3" }], false);
  await assert.rejects(
    () => runCellsInOrder(guardCost, config, { quick: false, log: () => {}, outDir: "" }),
    { name: "RangeError", message: /'warmup' must be below 'steps' \(3\): received 3/ },
  );
});
