/**
 * WTA-CRS inside whole models: the forward, the loss, every activation gradient and every gradient but the sampled
 * layers' weights are bitwise those of plain backprop; a checkpoint recompute samples the same rows; saved bytes
 * equal the analytic count (and the meter); nothing leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { type Batch, type Grads, keepAll, predictSavedBytes, type TrunkTransform } from "../../lib/nn/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { wtacrs, wtacrsLevel2 } from "../../lib/wtacrs/mod.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

const bits = (t: tf.Tensor) => new Uint32Array(Float32Array.from(t.dataSync()).buffer);

function gptBatch(b: number, t: number, vocab: number, ids?: number[]): Batch {
  const x = tf.tensor2d(Int32Array.from({ length: b * t }, (_, i) => (i * 7 + 3) % vocab), [b, t], "int32");
  const y = tf.tensor2d(Int32Array.from({ length: b * t }, (_, i) => (i * 5 + 1) % vocab), [b, t], "int32");
  return { x, y, ...(ids ? { rows: { ids: Int32Array.from(ids) } } : {}) };
}

const sampledWeight = (k: string) => /blocks\.\d+\.(attn\.proj|mlp\.fc1|mlp\.fc2)\.w$/.test(k);

testOnBackends(
  "GPT: loss and every gradient except the sampled weights are bitwise plain backprop's; sampled ones differ",
  () => {
    const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16 }, { seed: 1 });
    const batch = gptBatch(4, 16, 20, [0, 1, 2, 3]);
    const w = wtacrs({ ratio: 0.3 });
    const key = { step: 0, seed: 2 };
    const plain = backprop().lossAndGrads(gpt, batch, { key });
    const sampled = backprop({ selector: w.selector }).lossAndGrads(gpt, batch, { key });
    assert.equal(sampled.loss, plain.loss);
    let checked = 0;
    for (const k of Object.keys(gpt.params)) {
      if (sampledWeight(k)) {
        assert.notDeepEqual(bits(sampled.grads[k]), bits(plain.grads[k]), `${k} was not sampled`);
        assert.ok(sampled.grads[k].dataSync().every(Number.isFinite), `${k} not finite`);
      } else {
        assert.deepEqual(bits(sampled.grads[k]), bits(plain.grads[k]), `${k} differs`);
        checked++;
      }
    }
    assert.ok(checked > 20, `${checked} exact gradients`);
    // The cache now holds each sampled layer's gradient row norms for the 4 examples.
    assert.equal(w.cache.size, 3 * gpt.config.layers * 4);
    for (const r of [plain, sampled]) tf.dispose(Object.values(r.grads));
    w.dispose();
    tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
  },
);

testOnBackends("checkpoint('every') + WTA-CRS: the recompute samples the same rows, gradients bitwise equal", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16, layers: 3 }, { seed: 4 });
  const run = (trunk?: TrunkTransform) => {
    const w = wtacrs({ ratio: 0.25, seed: 9 });
    const source = backprop({ selector: w.selector, ...(trunk ? { trunk } : {}) });
    const out: Grads[] = [];
    // Three steps over recurring examples: steps 1 and 2 read the cache the earlier backwards wrote.
    for (const [step, ids] of [[0, [5, 6, 7]], [1, [7, 5, 6]], [2, [6, 7, 5]]] as const) {
      const batch = gptBatch(3, 16, 20, [...ids]);
      out.push(source.lossAndGrads(gpt, batch, { key: { step, seed: 1 } }).grads);
      tf.dispose([batch.x, batch.y]);
    }
    w.dispose();
    return out;
  };
  const plain = run(), ckpt = run(checkpoint("every"));
  for (let i = 0; i < plain.length; i++) {
    for (const k of Object.keys(gpt.params)) assert.deepEqual(bits(ckpt[i][k]), bits(plain[i][k]), `step ${i}: ${k}`);
  }
  for (const g of [...plain, ...ckpt]) tf.dispose(Object.values(g));
  tf.dispose(Object.values(gpt.params));
});

testOnBackends("saved bytes equal the analytic count (WTA-CRS alone and wrapped around Mesa), meter within 2%", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 32, layers: 2 }, { seed: 0 });
  const batch = gptBatch(4, 32, 20);
  const m = mesa({ grouping: "head-wise" });
  const w = wtacrs({ ratio: 0.3 });
  const specs = gpt.savedSpecs([4, 32]);
  const keep = backprop().lossAndGrads(gpt, batch);
  // Linear inputs the policy wraps: 0.3 of their rows + 8 bytes per kept row.
  const wrapped = specs.filter((s) => wtacrsLevel2({ tag: s.name, role: s.role }));
  assert.equal(wrapped.length, 6);
  const fp32 = wrapped.reduce((a, s) => a + s.shape[0] * s.shape[1] * 4, 0);
  const packed = wrapped.reduce((a, s) => a + Math.floor(0.3 * s.shape[0]) * (s.shape[1] * 4 + 8), 0);
  assert.ok(packed / fp32 <= 0.32, `wrapped ${packed / fp32}`);
  for (const selector of [w.selector, w.wrap(m.selector)]) {
    const r = backprop({ selector }).lossAndGrads(gpt, batch);
    const predicted = predictSavedBytes(specs, selector);
    assert.equal(r.savedBytes, predicted);
    const rel = Math.abs(r.forwardBytes - predicted) / predicted;
    assert.ok(rel <= 0.02, `meter ${r.forwardBytes} vs analytic ${predicted}`);
    assert.ok(r.savedBytes < keep.savedBytes, `${r.savedBytes} vs keep ${keep.savedBytes}`);
    tf.dispose(Object.values(r.grads));
  }
  assert.equal(predictSavedBytes(specs, w.selector), predictSavedBytes(specs, keepAll) - fp32 + packed);
  tf.dispose(Object.values(keep.grads));
  m.dispose();
  w.dispose();
  tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
});

testOnBackends("a WTA-CRS training step (GPT with ids, ViT) leaks no tensor", async () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16 }, { seed: 1 });
  const vit = createVit({ ...VIT_PRESETS.tiny, patch: 7 }, { seed: 1 });
  const batch = gptBatch(2, 16, 20, [1, 2]);
  const images = { x: tf.randomUniform([4, 28, 28, 1]), y: tf.tensor1d([0, 1, 2, 3], "int32") };
  const w = wtacrs({ ratio: 0.3, minK: 2 });
  const source = backprop({ selector: w.selector });
  // The cache's entries are state, not leaks: two steps fill both versions it keeps per entry; then it stays flat.
  for (const step of [0, 1]) {
    tf.dispose(Object.values(source.lossAndGrads(gpt, batch, { key: { step, seed: 0 } }).grads));
  }
  await assertNoLeaks(() => {
    for (const step of [2, 3]) {
      tf.dispose(Object.values(source.lossAndGrads(gpt, batch, { key: { step, seed: 0 } }).grads));
      tf.dispose(Object.values(source.lossAndGrads(vit, images, { key: { step, seed: 0 } }).grads));
    }
  });
  w.dispose();
  tf.dispose([batch.x, batch.y, images.x, images.y, ...Object.values(gpt.params), ...Object.values(vit.params)]);
});

testOnBackends("per-layer opt-out with exclude: an excluded block keeps its inputs and its exact gradients", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 20, context: 16 }, { seed: 2 });
  const batch = gptBatch(4, 16, 20);
  const w = wtacrs({ ratio: 0.3, exclude: (i) => i.tag.startsWith("blocks.0.") });
  assert.equal(w.selector({ tag: "blocks.0.mlp.fc1.input", role: "linear.input" }).name, "keep");
  const plain = backprop().lossAndGrads(gpt, batch);
  const r = backprop({ selector: w.selector }).lossAndGrads(gpt, batch);
  for (const k of ["blocks.0.mlp.fc1.w", "blocks.0.mlp.fc2.w", "blocks.0.attn.proj.w"]) {
    assert.deepEqual(bits(r.grads[k]), bits(plain.grads[k]), k);
  }
  assert.notDeepEqual(bits(r.grads["blocks.1.mlp.fc2.w"]), bits(plain.grads["blocks.1.mlp.fc2.w"]));
  for (const g of [plain, r]) tf.dispose(Object.values(g.grads));
  w.dispose();
  tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
});
