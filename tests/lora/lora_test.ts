/**
 * LoRA: with B = 0 the adapted model is the base model; adapter gradients (and the layer's own, when trained) equal
 * `tf.grads`; frozen base weights get no gradient, no optimizer state and save no input (the saved bytes equal the
 * analytic count, and a LoRA step's peak is below full fine-tuning's); merging reproduces the adapted outputs; clear
 * errors; no leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { isLoraParam, LoraLinear, mergeLora, withLora } from "../../lib/lora/mod.ts";
import { meter } from "../../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import {
  Context,
  forwardLoss,
  inferLogits,
  Linear,
  type Model,
  type Params,
  predictSavedBytes,
  SavedStore,
  Sequence,
  trainableParams,
} from "../../lib/nn/mod.ts";
import { adam, stateBytes } from "../../lib/optim/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertGradErrors, layerGradErrors } from "../_util/grad_check.ts";

function tinyGpt(seed = 1) {
  return createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed });
}

function batch() {
  return {
    x: tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [3, 1, 4, 1, 5, 9, 2, 6]], [2, 8], "int32"),
    y: tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [1, 4, 1, 5, 9, 2, 6, 5]], [2, 8], "int32"),
  };
}

/** Sets every adapter B to small random values, so the adapters change the output (and dA is not zero). */
function randomizeB(model: Model, seed = 5): void {
  for (const k of Object.keys(model.params)) {
    if (!k.endsWith(".lora_b")) continue;
    const old = model.params[k];
    model.params[k] = tf.randomNormal(old.shape, 0, 0.05, "float32", seed++);
    old.dispose();
  }
}

testOnBackends("LoRA with B = 0 computes exactly what the base model does", () => {
  const gpt = tinyGpt();
  const lora = withLora(gpt, { rank: 4, targets: ["attn.qkv", "attn.proj", "mlp.fc1", "head.out"] });
  assert.deepEqual(lora.lora.paths, [
    "blocks.0.attn.qkv",
    "blocks.0.attn.proj",
    "blocks.0.mlp.fc1",
    "blocks.1.attn.qkv",
    "blocks.1.attn.proj",
    "blocks.1.mlp.fc1",
    "head.out",
  ]);
  const { x, y } = batch();
  const a = inferLogits(gpt, x), b = inferLogits(lora, x);
  const av = a.dataSync(), bv = b.dataSync();
  assert.ok(av.every((v, i) => v === bv[i]), "logits differ");
  assert.equal(forwardLoss(lora, { x, y }), forwardLoss(gpt, { x, y }));
  // The base model is untouched: its layers are still plain Linears.
  assert.ok((gpt.layers[1] as unknown as { attn: { qkv: unknown } }).attn.qkv instanceof Linear);
  tf.dispose([a, b, x, y, ...Object.values(lora.params)]);
});

testOnBackends("LoraLinear's gradients (x, W, b, A, B) equal tf.grads", () => {
  const layer = new LoraLinear(new Linear("fc", 6, 5), { rank: 3, alpha: 6 }); // run at the root: params "w", ...
  const params: Params = {
    w: tf.randomNormal([6, 5], 0, 1, "float32", 1),
    b: tf.randomNormal([5], 0, 1, "float32", 2),
    lora_a: tf.randomNormal([6, 3], 0, 1, "float32", 3),
    lora_b: tf.randomNormal([3, 5], 0, 1, "float32", 4),
  };
  const x = tf.randomNormal([2, 4, 6], 0, 1, "float32", 5);
  assertGradErrors(layerGradErrors(layer, x, params), 1e-4);
  tf.dispose([x, ...Object.values(params)]);
});

testOnBackends("a LoRA GPT's adapter gradients equal tf.grads of the whole model; the base gets none", () => {
  const lora = withLora(tinyGpt(2), { rank: 4, targets: ["qkv", "fc2"] });
  randomizeB(lora);
  const { x, y } = batch();
  const { loss, grads } = backprop().lossAndGrads(lora, { x, y });
  const names = Object.keys(lora.params).filter(isLoraParam);
  assert.deepEqual(Object.keys(grads).sort(), names.slice().sort());
  const store = new SavedStore();
  const trunk = new Sequence("", lora.layers.slice());
  tf.tidy(() => {
    const f = (...ps: tf.Tensor[]) => {
      const params: Params = { ...lora.params };
      names.forEach((n, i) => (params[n] = ps[i]));
      const ctx = new Context({ params, store });
      return lora.loss.forward(trunk.forward(x, ctx), y, ctx.child("loss"));
    };
    const { value, grads: oracle } = tf.valueAndGrads(f)(names.map((n) => lora.params[n]));
    assert.ok(Math.abs(value.dataSync()[0] - loss) <= 1e-5 * Math.abs(loss));
    names.forEach((n, i) => assert.ok(maxRelError(grads[n], oracle[i]) <= 1e-4, n));
  });
  store.dispose();
  tf.dispose([x, y, ...Object.values(grads), ...Object.values(lora.params)]);
});

testOnBackends("frozen base weights: no gradient, no Adam state, no input saved, a lower step peak", () => {
  const { x, y } = batch();
  const full = tinyGpt(3);
  const lora = withLora(tinyGpt(3), { rank: 2 });
  // Saved for backward: exactly what the analytic count predicts with the LoRA model's trainable set.
  const r = backprop().lossAndGrads(lora, { x, y });
  assert.equal(r.savedBytes, predictSavedBytes(lora.savedSpecs(x.shape), undefined, lora.trainable));
  const rFull = backprop().lossAndGrads(full, { x, y });
  assert.ok(r.savedBytes < rFull.savedBytes, `${r.savedBytes} vs ${rFull.savedBytes}`);
  tf.dispose([...Object.values(r.grads), ...Object.values(rFull.grads)]);

  const frozen = Object.entries(lora.params).filter(([k]) => !isLoraParam(k));
  const m = meter();
  const peakOf = (model: Model) => {
    const trainer = new Trainer(model, { optimizer: adam({ lr: 1e-2 }) });
    trainer.step({ x, y });
    m.resetPeak();
    const base = m.live;
    trainer.step({ x, y });
    const peak = m.peak - base;
    const state = stateBytes(trainer.state);
    trainer.dispose();
    return { peak, state };
  };
  const before = tf.memory().numTensors;
  const loraRun = peakOf(lora), fullRun = peakOf(full);
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  const adapterBytes = Object.values(trainableParams(lora)).reduce((n, t) => n + 4 * t.size, 0);
  assert.equal(loraRun.state, 2 * adapterBytes, "Adam's moments for the adapters only");
  assert.ok(loraRun.peak < fullRun.peak, `LoRA step peak ${loraRun.peak} vs full fine-tuning ${fullRun.peak}`);
  for (const [k, v] of frozen) assert.ok(lora.params[k] === v && !v.isDisposed, `${k} was replaced`);
  tf.dispose([x, y, ...Object.values(lora.params), ...Object.values(full.params)]);
});

testOnBackends("mergeLora gives the adapted model's outputs with plain Linear layers", () => {
  const lora = withLora(tinyGpt(4), { rank: 4, alpha: 8, targets: "blocks.*.attn.qkv" });
  randomizeB(lora);
  const { x, y } = batch();
  const merged = mergeLora(lora);
  assert.ok(!Object.keys(merged.params).some(isLoraParam));
  assert.equal(merged.trainable, undefined);
  const a = inferLogits(lora, x), b = inferLogits(merged, x);
  assert.ok(maxRelError(b, a) <= 1e-5, `merged logits differ: ${maxRelError(b, a)}`);
  assert.notEqual(forwardLoss(lora, { x, y }), forwardLoss(tinyGpt(4), { x, y }), "the adapters change the output");
  const fresh = lora.lora.paths.map((p) => merged.params[`${p}.w`]);
  tf.dispose([a, b, x, y, ...fresh, ...Object.values(lora.params)]);
});

Deno.test("withLora: clear errors for bad ranks, targets that select nothing, and a second application", () => {
  const gpt = tinyGpt();
  assert.throws(() => withLora(gpt, { rank: 0 }), (e: Error) => e instanceof RangeError && /'rank'.*0/.test(e.message));
  assert.throws(
    () => withLora(gpt, { targets: ["attn.nope"] }),
    (e: Error) => e instanceof RangeError && /selects no Linear layer.*attn\.nope/.test(e.message),
  );
  assert.throws(() => withLora(gpt, { targets: [""] }), TypeError);
  const lora = withLora(gpt);
  assert.throws(() => withLora(lora), /already has adapters/);
  tf.dispose(Object.values(lora.params));
});
