import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { heapTracker, initBackend } from "../../lib/backend/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { Trainer } from "../../lib/train/mod.ts";
import { BLAS_AVAILABLE } from "../_util/backends.ts";
import { trainInProcess } from "../train/_train_bits.ts";

const BACKENDS = BLAS_AVAILABLE ? ["wasm", "blas"] as const : ["wasm"] as const;

/** Six AdamW steps of a tiny GPT whose activations are large blocks (B=16, T=32: [B, T, 4D] is 512 KiB). */
function train() {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 40 }, { seed: 1 });
  const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }) });
  const x = tf.randomUniform([16, 32], 0, 40, "int32", 5), y = tf.randomUniform([16, 32], 0, 40, "int32", 6);
  const losses: number[] = [];
  for (let i = 0; i < 6; i++) losses.push(trainer.step({ x, y }).loss);
  const params = Object.fromEntries(Object.entries(gpt.params).map(([k, v]) => [k, v.dataSync().slice()]));
  trainer.dispose();
  tf.dispose([x, y, ...Object.values(gpt.params)]);
  return { losses, params };
}

for (const backend of BACKENDS) {
  Deno.test(`heap arena: GPT training follows the plan and leaks nothing; on wasm its bits are emmalloc's [${backend}]`, async () => {
    await initBackend({ backend, heap: "stock" });
    const stock = train();
    await initBackend({ backend, heap: "plan" });
    const arena = heapTracker()!.arena!;
    arena.resetPlan(); // a new run: another test's plan does not apply
    const live0 = arena.liveBytes, before = arena.stats;
    const planned = train();
    const after = arena.stats;
    if (backend === "wasm") {
      // On blas the bits are compared in fresh processes (below): other test files of this process change the
      // OpenBLAS thread count, which changes OpenBLAS's sums.
      assert.deepEqual(planned.losses, stock.losses);
      for (const [k, v] of Object.entries(stock.params)) assert.deepEqual(planned.params[k], v, k);
    }
    assert.ok(after.planned - before.planned > 100, "large blocks were placed by the plan");
    assert.equal(after.fallbacks - before.fallbacks, 0, "every planned address was free");
    assert.equal(arena.liveBytes, live0, "all the run's blocks are back");
  });
}

if (BLAS_AVAILABLE) {
  Deno.test("heap arena: GPT training under the plan equals emmalloc's bit for bit, in fresh processes [blas]", async () => {
    const [stock, planned] = await Promise.all([trainInProcess("blas", "heap=stock"), trainInProcess("blas")]);
    assert.equal(stock.planned, 0, "emmalloc placed every block");
    assert.ok(planned.planned > 100, "large blocks were placed by the plan");
    assert.notEqual(planned.losses[0], planned.losses[4], "the model trained");
    assert.deepEqual(planned.losses, stock.losses);
    assert.equal(planned.hash, stock.hash, "every parameter bit for bit");
  });
}
