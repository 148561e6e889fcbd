/** StreamBP through the experiments' technique table: row names, options, combinations, the model filter. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { buildTechnique, techniqueAppliesTo, techniqueFields } from "../../experiments/_lib/techniques.ts";
import { memory } from "../../experiments/memory.ts";
import { assertGradsMatch, disposeBatch, maskedBatch } from "./_util.ts";

Deno.test("streambp rows build StreamBP sources from the config keys, and run the row's selector in the chunks", async () => {
  await initBackend({ backend: "wasm" });
  assert.deepEqual(Object.keys(techniqueFields("streambp")), [
    "streambpChunk",
    "streambpLogitsChunk",
    "streambpMaxScores",
  ]);
  const a = buildTechnique("streambp", { streambpChunk: 3 });
  assert.equal(a.source.name, "streambp(chunk=3, kv=cache)");
  const b = buildTechnique("streambp-recompute", { streambpChunk: 4, streambpLogitsChunk: 2, streambpMaxScores: 40 });
  assert.equal(b.source.name, "streambp(chunk=4, logits=2, maxScores=40, kv=recompute)");
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 17, context: 8 }, { seed: 1 });
  const batch = maskedBatch(2, 8, 17, 3);
  const ref = backprop().lossAndGrads(gpt, batch), got = a.source.lossAndGrads(gpt, batch);
  assertGradsMatch(got.grads, ref.grads, "streambp row");
  tf.dispose([...Object.values(ref.grads), ...Object.values(got.grads)]);
  const withMesa = buildTechnique("streambp+mesa-head-wise", { streambpChunk: 3 });
  const r = withMesa.source.lossAndGrads(gpt, batch, { key: { step: 0, seed: 0 } });
  assert.ok(Number.isFinite(r.loss));
  tf.dispose(Object.values(r.grads));
  [a, b, withMesa].forEach((t) => t.dispose());
  assert.throws(() => buildTechnique("streambp+checkpoint-every"), /Cannot combine StreamBP with a trunk transform/);
  assert.throws(() => buildTechnique("streambp", { streambpChunk: 0 }), RangeError);
  disposeBatch(batch);
  tf.dispose(Object.values(gpt.params));
});

Deno.test("StreamBP rows apply to the GPT only: the memory experiment leaves them out for the ViT", () => {
  assert.equal(techniqueAppliesTo("streambp", "gpt"), true);
  assert.equal(techniqueAppliesTo("streambp+mesa-head-wise", "vit"), false);
  assert.equal(techniqueAppliesTo("mesa-head-wise", "vit"), true);
  const cells = memory.cells!(memory.schema.parse({ gptDepths: [4] }));
  const rows = (model: string) => cells.filter((c) => c.model === model).map((c) => c.technique);
  assert.ok(rows("gpt").includes("streambp") && rows("gpt").includes("streambp-recompute"));
  assert.ok(!rows("vit").some((t) => String(t).startsWith("streambp")), `vit rows: ${rows("vit")}`);
  assert.equal(rows("vit").length, rows("gpt").length - 2);
});
