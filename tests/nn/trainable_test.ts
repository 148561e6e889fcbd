/**
 * Frozen parameters (`ContextOptions.trainable`, `Model.trainable`): no gradient, no optimizer state, no update, and a
 * Linear with a frozen weight saves no input (the saved bytes equal the analytic count with the same predicate); the
 * gradients of the trained parameters and the input gradient stay those of `tf.grads`.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import {
  Context,
  Linear,
  type Params,
  predictSavedBytes,
  specSaved,
  trainableParams,
  trunkSavedSpecs,
} from "../../lib/nn/mod.ts";
import { adamw, stateBytes } from "../../lib/optim/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);
}

testOnBackends("a Linear with a frozen weight saves nothing; dx and db match tf.grads, dW is never made", () => {
  const before = tf.memory().numTensors;
  const fc = new Linear("fc", 5, 3);
  const params: Params = { "fc.w": tf.randomNormal([5, 3], 0, 1, "float32", 1), "fc.b": tf.randomNormal([3], 0, 1) };
  const x = tf.randomNormal([4, 5], 0, 1, "float32", 2), dy = tf.randomNormal([4, 3], 0, 1, "float32", 3);
  const ctx = new Context({ params, trainable: (n) => n !== "fc.w" });
  const y = fc.forward(x, ctx.child("fc"));
  assert.equal(ctx.store.size, 0, "no input saved for a frozen weight");
  const dx = fc.backward(dy, ctx.child("fc"));
  assert.deepEqual(Object.keys(ctx.grads), ["fc.b"]);
  const [ox, ob] = tf.grads((xx: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.add(tf.matMul(xx, params["fc.w"]), b), dy))
  )([x, params["fc.b"]]);
  assert.ok(maxRelError(dx, ox) <= 1e-5, "dx");
  assert.ok(maxRelError(ctx.grads["fc.b"], ob) <= 1e-5, "db");
  tf.dispose([y, dx, ox, ob, x, dy, ...Object.values(ctx.grads), ...Object.values(params)]);
  assert.equal(tf.memory().numTensors, before, "tensor leak");
});

testOnBackends("a GPT with only the head trained: head gradients and saved bytes as predicted, nothing else", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 3 });
  const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [3, 1, 4, 1, 5, 9, 2, 6]], [2, 8], "int32");
  const y = tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [1, 4, 1, 5, 9, 2, 6, 5]], [2, 8], "int32");
  const trainable = (n: string) => n.startsWith("head.") || n === "blocks.1.mlp.fc2.b";
  const probe = { ...gpt, trainable };
  const full = backprop().lossAndGrads(gpt, { x, y });
  const part = backprop().lossAndGrads(probe, { x, y });
  assert.equal(part.loss, full.loss);
  assert.deepEqual(Object.keys(part.grads).sort(), Object.keys(trainableParams(probe)).sort());
  for (const k of Object.keys(part.grads)) assert.deepEqual(bits(part.grads[k]), bits(full.grads[k]), k);
  // Fewer bytes held for backward: the frozen Linears' and the embedding's inputs are not saved.
  const specs = trunkSavedSpecs(gpt.layers, gpt.loss, x.shape);
  assert.equal(full.savedBytes, predictSavedBytes(specs));
  assert.equal(part.savedBytes, predictSavedBytes(specs, undefined, trainable));
  const linearInputs = specs.filter((s) => s.role === "linear.input");
  const savedInputs = linearInputs.filter((s) => specSaved(s, trainable)).map((s) => s.name);
  assert.deepEqual(savedInputs, ["head.out.input"]);
  assert.ok(part.savedBytes < full.savedBytes);
  tf.dispose([x, y, ...Object.values(full.grads), ...Object.values(part.grads), ...Object.values(gpt.params)]);
});

testOnBackends("the Trainer keeps optimizer state for trained parameters only and never replaces frozen ones", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 4 });
  const probe = { ...gpt, trainable: (n: string) => n.startsWith("head.out.") };
  const frozen = Object.entries(gpt.params).filter(([k]) => !k.startsWith("head.out."));
  const frozenBits = new Map(frozen.map(([k, v]) => [k, bits(v)]));
  const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
  const trainer = new Trainer(probe, { optimizer: adamw({ lr: 1e-2 }) });
  const headBytes = Object.values(trainableParams(probe)).reduce((n, t) => n + 4 * t.size, 0);
  assert.equal(stateBytes(trainer.state), 2 * headBytes, "Adam's two moments for head.out.* only");
  const before = tf.memory().numTensors;
  const w0 = bits(probe.params["head.out.w"]);
  const first = trainer.step(batch).loss;
  for (let i = 0; i < 4; i++) trainer.step(batch);
  assert.ok(trainer.step(batch).loss < first, "the head learns");
  assert.notDeepEqual(bits(probe.params["head.out.w"]), w0);
  for (const [k, v] of frozen) {
    assert.equal(probe.params[k], v, `${k} is the same tensor`);
    assert.ok(!v.isDisposed, k);
    assert.deepEqual(bits(v), frozenBits.get(k), k);
  }
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  trainer.dispose();
  tf.dispose([batch.x, batch.y, ...Object.values(probe.params)]);
});

Deno.test("a Trainer on a model that freezes everything is a clear error", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 0 });
  assert.throws(
    () => new Trainer({ ...gpt, trainable: () => false }, { optimizer: adamw({ lr: 1e-2 }) }),
    (e: Error) => e instanceof RangeError && /freezes every parameter/.test(e.message),
  );
  tf.dispose(Object.values(gpt.params));
});
