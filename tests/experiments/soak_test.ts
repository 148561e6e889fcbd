import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend/mod.ts";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { runCellsInOrder } from "../../experiments/_lib/experiment.ts";
import { flatness } from "../../experiments/_lib/flatness.ts";
import type { Progress } from "../../experiments/_lib/progress.ts";
import { soak } from "../../experiments/soak.ts";

await initBackend();

Deno.test("flatness(): drift from the first value after the warm-up, in percent", () => {
  assert.deepEqual(flatness([1, 2, 4, 4, 4], 2), { reference: 4, last: 4, min: 4, max: 4, driftPct: 0 });
  const grows = flatness([10, 100, 101, 102, 103], 1);
  assert.equal(grows.max, 103);
  assert.ok(Math.abs(grows.driftPct - 3) < 1e-9);
  assert.throws(() => flatness([1, 2], 2), { name: "RangeError", message: /'warmup' must be an integer in \[0, 1\]/ });
  assert.throws(() => flatness([1, 0], 1), /reference value must be positive/);
});

Deno.test("soak --quick: every technique keeps tensor count and live bytes flat after the warm-up, leaks nothing", async () => {
  const config = resolveConfig(soak, [], true);
  const before = tf.memory().numTensors;
  const rows = await runCellsInOrder(soak, config, { quick: true, log: () => {}, outDir: "" });
  assert.equal(rows.length, soak.cells!(config).length);
  for (const technique of ["checkpoint-sqrt", "mesa-head-wise", "wtacrs", "lora", "mezo", "streambp"]) {
    assert.ok(rows.some((r) => r.technique === technique), technique);
  }
  assert.ok(rows.some((r) => r.technique === "update-in-backward"));
  assert.ok(rows.some((r) => r.optimizer === "galore"));
  for (const r of rows) {
    const at = `${r.technique}/${r.optimizer}`;
    assert.ok(Number(r.tensorDriftPct) <= 1, `${at}: tensor count drifts ${r.tensorDriftPct}%`);
    assert.ok(Number(r.liveDriftPct) <= 1, `${at}: live bytes drift ${r.liveDriftPct}%`);
    assert.equal(r.flat, true, at);
    assert.equal(r.leakedTensors, 0, `${at}: tensors left after the cell`);
    assert.ok(Number(r.tensors) > 0 && Number(r.liveMiB) > 0, at);
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("soak detects a leak: a tensor kept every step makes the row not flat", async () => {
  const config = { ...resolveConfig(soak, [], true), steps: 40, warmup: 5 };
  const leaked: tf.Tensor[] = [];
  const progress: Progress = {
    step: () => void leaked.push(tf.zeros([256])),
    cell() {},
    log() {},
    done() {},
  };
  const [row] = await soak.runCell!(config, { technique: "baseline", optimizer: "adamw" }, {
    quick: true,
    log: () => {},
    outDir: "",
    progress,
  });
  tf.dispose(leaked);
  assert.equal(row.flat, false);
  assert.ok(Number(row.tensorDriftPct) > 1, `tensor drift ${row.tensorDriftPct}%`);
  assert.ok(Number(row.liveDriftPct) > 1, `live drift ${row.liveDriftPct}%`);
  assert.equal(row.leakedTensors, 40, "the 40 kept tensors are still held when the cell ends");
});
