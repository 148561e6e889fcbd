/**
 * Techniques that rewrite the model (LoRA) or bring a whole training step (MeZO) through the one technique table:
 * `lora+mezo` perturbs only the adapters, a step combined with a selector or trunk is a clear error, the memory
 * experiment measures their rows, and the from-scratch standard runs refuse a step technique with a usage error.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { UsageError } from "../../experiments/_lib/errors.ts";
import { requireOptimizerTraining } from "../../experiments/_lib/standard_runs.ts";
import { buildTechnique } from "../../experiments/_lib/techniques.ts";
import { memory } from "../../experiments/memory.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { isLoraParam } from "../../lib/lora/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { disposeTree } from "../../lib/nn/mod.ts";
import { Trainer } from "../../lib/train/mod.ts";

await initBackend({ backend: "wasm" });

Deno.test("lora+mezo: the model gets adapters and the MeZO step updates only them", () => {
  const tech = buildTechnique("lora+mezo", { loraRank: 2, mezoLr: 1e-2, seed: 3 });
  assert.ok(tech.step !== undefined);
  const model = tech.prepare(createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 0 }));
  const base = Object.entries(model.params).filter(([k]) => !isLoraParam(k));
  const trainer = new Trainer(model, { step: tech.step! });
  const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
  trainer.step(batch);
  trainer.step(batch);
  for (const [k, v] of base) assert.ok(model.params[k] === v, `${k} was replaced`);
  assert.ok(tf.tidy(() => tf.any(tf.notEqual(model.params["blocks.0.attn.qkv.lora_b"], 0)).dataSync()[0]) === 1);
  trainer.dispose();
  tech.dispose();
  disposeTree(model.params);
  tf.dispose([batch.x, batch.y]);
});

Deno.test("a training step does not combine with a selector, trunk transform or a second step", () => {
  for (const name of ["mezo+mesa-head-wise", "checkpoint-sqrt+mezo"]) {
    assert.throws(
      () => buildTechnique(name),
      (e: Error) => e instanceof TypeError && /"mezo" provides a whole training step/.test(e.message),
      name,
    );
  }
  assert.throws(() => buildTechnique("mezo+mezo-rademacher"), /appears twice/);
  assert.throws(() => requireOptimizerTraining(buildTechnique("mezo"), "the GPT-small run"), UsageError);
  requireOptimizerTraining(buildTechnique("lora"), "the GPT-small run"); // a model rewrite trains with an optimizer
});

Deno.test("the memory experiment measures LoRA, MeZO and LoRA+MeZO rows", async () => {
  const config = memory.schema.parse({ gptDepths: [2], gptBatch: 2, warmup: 0, steps: 1, vit: false });
  const row = async (technique: string) =>
    (await memory.runCell!(config, { model: "gpt", layers: 2, technique }, { quick: true, log: () => {}, outDir: "" }))[
      0
    ];
  const [base, lora, mezo, both] = [
    await row("baseline"),
    await row("lora"),
    await row("mezo"),
    await row("lora+mezo"),
  ];
  for (const r of [lora, mezo, both]) assert.ok(Number(r.peakMiB) < Number(base.peakMiB), `${r.technique} peak`);
  assert.equal(mezo.savedMiB, 0);
  assert.equal(both.savedMiB, 0);
  assert.ok(Number(lora.savedMiB) < Number(base.savedMiB), "LoRA's frozen Linears save no input");
  assert.equal(lora.savedMiB, lora.predictedSavedMiB);
});
