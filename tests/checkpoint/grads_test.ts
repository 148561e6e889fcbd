import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint, type CheckpointPlan } from "../../lib/checkpoint/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import type { Batch, Model } from "../../lib/nn/model.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { disposeAll, tokenBatch } from "./_util.ts";

const PLANS: CheckpointPlan[] = ["every", "sqrt", { every: 2 }, { segments: [1, 2] }];

/** Asserts checkpointed backprop gives the plain loss and, per parameter, the plain gradient. */
function assertSameAsPlain(model: Model, batch: Batch, plan: CheckpointPlan): void {
  const plain = backprop().lossAndGrads(model, batch);
  const ck = backprop({ trunk: checkpoint(plan) }).lossAndGrads(model, batch);
  try {
    const what = `plan ${JSON.stringify(plan)}`;
    assert.deepEqual(Object.keys(ck.grads).sort(), Object.keys(plain.grads).sort(), `${what}: gradient keys`);
    assert.deepEqual(Object.keys(ck.grads).sort(), Object.keys(model.params).sort(), `${what}: every parameter`);
    assert.equal(ck.loss, plain.loss, `${what}: the same forward gives the same loss`);
    for (const [name, g] of Object.entries(plain.grads)) {
      assert.deepEqual(ck.grads[name].shape, g.shape);
      // Recomputation repeats the same float32 ops on the same inputs: the gradients are bit-identical (measured).
      const err = maxRelError(ck.grads[name], g);
      assert.equal(err, 0, `${what}: max rel error ${err} at ${name} (must be bit-identical)`);
    }
  } finally {
    [...Object.values(plain.grads), ...Object.values(ck.grads)].forEach((g) => g.dispose());
  }
}

testOnBackends("checkpointed GPT gradients equal plain backprop for every plan", async () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16, layers: 3 }, { seed: 1 });
  const batch = tokenBatch(2, 12, 20);
  await assertNoLeaks(() => {
    for (const plan of PLANS) assertSameAsPlain(gpt, batch, plan);
  });
  disposeAll(batch, gpt);
});

testOnBackends("checkpointed GPT gradients equal plain backprop with a loss mask", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 10, context: 8, layers: 3 }, { seed: 2 });
  const batch = { ...tokenBatch(2, 6, 10, 5), weights: tf.tensor2d([[0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 1, 1]]) };
  assertSameAsPlain(gpt, batch, "sqrt");
  disposeAll(batch, gpt);
});

testOnBackends("checkpointed ViT gradients equal plain backprop for every plan", async () => {
  const vit = createVit({ ...VIT_PRESETS.tiny, layers: 3 }, { seed: 3 });
  const batch = { x: tf.randomUniform([3, 28, 28, 1], 0, 1, "float32", 4), y: tf.tensor1d([0, 3, 9], "int32") };
  await assertNoLeaks(() => {
    for (const plan of PLANS) assertSameAsPlain(vit, batch, plan);
  });
  disposeAll(batch, vit);
});

testOnBackends("a segment that also wraps the embedding and head gives the plain gradients", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 12, context: 8, layers: 2 }, { seed: 4 });
  const batch = tokenBatch(2, 8, 12, 9);
  const plain = backprop().lossAndGrads(gpt, batch);
  const all = backprop({ trunk: checkpoint({ plan: { every: 100 }, include: () => true }) });
  const ck = all.lossAndGrads(gpt, batch);
  assert.equal(ck.loss, plain.loss);
  for (const [name, g] of Object.entries(plain.grads)) {
    assert.equal(maxRelError(ck.grads[name], g), 0, `${name} must be bit-identical`);
  }
  // Held after forward: the segment input (the int32 token ids [2, 8]) and the loss's probs [16, 12] and targets [16].
  assert.equal(ck.savedBytes, 4 * (2 * 8 + 16 * 12 + 16));
  [...Object.values(plain.grads), ...Object.values(ck.grads)].forEach((g) => g.dispose());
  disposeAll(batch, gpt);
});
