import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { countTask } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/data/rng.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { inferLogits } from "../../lib/nn/forward.ts";
import { disposeBatch, evaluate, tokenBatch, Trainer } from "../../lib/train/mod.ts";
import { assertAllClose } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { refCrossEntropy } from "../_util/reference.ts";

testOnBackends("Trainer: 100 AdamW steps on the count task leave the tensor count unchanged and learn", () => {
  const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 16, layers: 1 };
  const gpt = createGpt(cfg, { seed: 0 });
  const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2, weightDecay: 0 }) });
  const rng = new Rng(0);
  const batchOf = () => tokenBatch(countTask(rng, { batch: 8, context: 16, vocab: 16 }), 8, 16);
  const warm = batchOf();
  const first = trainer.step(warm).loss;
  disposeBatch(warm);
  const tensors = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 100; i++) {
    const b = batchOf();
    last = trainer.step(b).loss;
    disposeBatch(b);
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor leaks over 100 steps");
  assert.ok(last < first * 0.5, `loss should fall: ${first} -> ${last}`);
  const evalBatch = batchOf();
  const { accuracy, count } = evaluate(gpt, [evalBatch]);
  assert.equal(count, 8 * 16);
  assert.ok(accuracy > 0.5, `accuracy ${accuracy}`);
  disposeBatch(evalBatch);
  trainer.dispose();
  Object.values(gpt.params).forEach((p) => p.dispose());
});

testOnBackends("Trainer: a ViT step runs and evaluate() counts every label", () => {
  const vit = createVit(VIT_PRESETS.tiny, { seed: 0 });
  const trainer = new Trainer(vit, { optimizer: adamw({ lr: 1e-3 }) });
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, "float32", 0);
  const y = tf.tensor1d([1, 2, 3, 4], "int32");
  const before = tf.memory().numTensors;
  const r = trainer.step({ x, y });
  assert.ok(Number.isFinite(r.loss) && r.savedBytes > 0 && r.forwardBytes > 0);
  assert.equal(tf.memory().numTensors, before);
  const e = evaluate(vit, [{ x, y }]);
  assert.equal(e.count, 4);
  // Accuracy and loss recomputed from the logits in float64: argmax hits over 4 labels, mean cross-entropy.
  const logits = inferLogits(vit, x);
  const z = logits.dataSync(), labels = y.dataSync(), k = logits.shape[1]!;
  logits.dispose();
  let hits = 0;
  for (let i = 0; i < 4; i++) {
    const row = Array.from(z.subarray(i * k, (i + 1) * k));
    if (row.indexOf(Math.max(...row)) === labels[i]) hits++;
  }
  assert.equal(e.accuracy, hits / 4);
  assertAllClose(e.loss, refCrossEntropy(z, k, labels), { rtol: 1e-6 });
  [x, y].forEach((t) => t.dispose());
  trainer.dispose();
  Object.values(vit.params).forEach((p) => p.dispose());
});

testOnBackends("tokenBatch() rejects arrays of the wrong length", () => {
  assert.throws(() => tokenBatch({ x: new Int32Array(5), y: new Int32Array(6) }, 2, 3), {
    name: "RangeError",
    message: /'x' must have 2x3=6 entries: current length is 5/,
  });
});
