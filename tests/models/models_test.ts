import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { modelGradErrors } from "../_util/model_grads.ts";

/** Max relative gradient error vs tf.grads: measured worst 9.3e-7 (GPT and ViT, every backend). */
const GRAD_TOL = 1e-5;

function worst(errors: Record<string, number>): [string, number] {
  return Object.entries(errors).reduce((a, b) => (b[1] > a[1] || Number.isNaN(b[1]) ? b : a), ["", 0]);
}

testOnBackends("GPT (tiny) explicit backprop matches tf.grads for every parameter", async () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16 }, { seed: 1 });
  await assertNoLeaks(() => {
    const x = tf.tensor2d(Array.from({ length: 2 * 12 }, (_, i) => (i * 7) % 20), [2, 12], "int32");
    const y = tf.tensor2d(Array.from({ length: 2 * 12 }, (_, i) => (i * 3 + 1) % 20), [2, 12], "int32");
    const { loss, oracleLoss, errors } = modelGradErrors(gpt, { x, y }, backprop());
    assert.ok(Math.abs(loss - oracleLoss) < 1e-5, `loss ${loss} vs ${oracleLoss}`);
    assert.equal(Object.keys(errors).length, Object.keys(gpt.params).length);
    const [name, err] = worst(errors);
    assert.ok(err <= GRAD_TOL, `max rel error ${err} at ${name}`);
    x.dispose();
    y.dispose();
  });
  Object.values(gpt.params).forEach((p) => p.dispose());
});

testOnBackends("GPT backprop with a loss mask matches tf.grads", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 10, context: 8, layers: 1 }, { seed: 2 });
  const x = tf.tensor2d([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], undefined, "int32");
  const y = tf.tensor2d([[2, 3, 4, 5, 6, 7], [5, 4, 3, 2, 1, 0]], undefined, "int32");
  const weights = tf.tensor2d([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1]]);
  const { errors } = modelGradErrors(gpt, { x, y, weights }, backprop());
  const [name, err] = worst(errors);
  assert.ok(err <= GRAD_TOL, `max rel error ${err} at ${name}`);
  [x, y, weights, ...Object.values(gpt.params)].forEach((t) => t.dispose());
});

testOnBackends("ViT (tiny) explicit backprop matches tf.grads for every parameter", async () => {
  const vit = createVit(VIT_PRESETS.tiny, { seed: 3 });
  await assertNoLeaks(() => {
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, "float32", 4);
    const y = tf.tensor1d([0, 3, 9], "int32");
    const { errors } = modelGradErrors(vit, { x, y }, backprop());
    const [name, err] = worst(errors);
    assert.ok(err <= GRAD_TOL, `max rel error ${err} at ${name}`);
    x.dispose();
    y.dispose();
  });
  Object.values(vit.params).forEach((p) => p.dispose());
});

testOnBackends("createGpt/createVit reject bad configs with a RangeError naming the field", () => {
  assert.throws(() => createGpt({ ...GPT_PRESETS.tiny, vocab: 0 }), { name: "RangeError", message: /'vocab'/ });
  assert.throws(() => createGpt({ ...GPT_PRESETS.tiny, vocab: 8, heads: 3 }), {
    name: "RangeError",
    message: /'heads' must divide dim 64: current value is 3/,
  });
  assert.throws(() => createVit({ ...VIT_PRESETS.tiny, patch: 5 }), { name: "RangeError", message: /'patch'/ });
});

testOnBackends("a GPT step rejects wrong batch shapes with a clear error", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 10, context: 8 });
  const tooLong = tf.zeros([2, 9], "int32");
  const floats = tf.zeros([2, 4]);
  const y = tf.zeros([2, 9], "int32");
  const before = tf.memory().numTensors;
  assert.throws(() => backprop().lossAndGrads(gpt, { x: tooLong, y }), {
    name: "RangeError",
    message: /sequence length must be at most 8: current value is 9/,
  });
  assert.throws(() => backprop().lossAndGrads(gpt, { x: floats, y }), { name: "TypeError", message: /int32/ });
  assert.equal(tf.memory().numTensors, before, "a failed step must not leak");
  [tooLong, floats, y, ...Object.values(gpt.params)].forEach((t) => t.dispose());
});
