import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { measure, meter } from "../../lib/memory/mod.ts";
import { predictSaved, predictSavedBytes } from "../../lib/nn/analytic.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { discardAll } from "../../lib/nn/policy.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { expectedForwardBytes } from "../_util/accounting.ts";
import { testOnBackends } from "../_util/backends.ts";

testOnBackends("meter() counts a shared buffer once", () => {
  const m = meter();
  const before = m.live;
  const t = tf.ones([256]);
  assert.equal(m.live - before, 1024);
  const c = t.clone();
  const r = t.reshape([16, 16]);
  assert.equal(m.live - before, 1024, "clone and reshape share the buffer");
  t.dispose();
  c.dispose();
  assert.equal(m.live - before, 1024, "buffer alive while the reshape holds it");
  r.dispose();
  assert.equal(m.live - before, 0);
});

testOnBackends("meter() timeline: each span's start, highest and end live bytes, in mark order", () => {
  const m = meter();
  m.mark("ignored"); // not recording: nothing happens
  m.startTimeline();
  const base = m.live;
  m.mark("alloc");
  const a = tf.ones([256]); // +1 KiB
  const b = tf.ones([512]); // +2 KiB: the span's peak
  b.dispose();
  m.mark("free");
  a.dispose();
  const spans = m.stopTimeline();
  assert.deepEqual(spans.map((s) => s.label), ["start", "alloc", "free"]);
  const [, alloc, free] = spans.map((s) => ({ ...s, start: s.start - base, peak: s.peak - base, end: s.end - base }));
  assert.deepEqual([alloc.start, alloc.peak, alloc.end], [0, 3072, 1024]);
  assert.deepEqual([free.start, free.peak, free.end], [1024, 1024, 0]);
  assert.deepEqual(m.stopTimeline(), [], "stopped");
});

testOnBackends("meter() ledger adds external bytes", () => {
  const m = meter();
  const before = m.live;
  m.addExternal(1000);
  assert.equal(m.live - before, 1000);
  assert.equal(m.external >= 1000, true);
  m.addExternal(-1000);
  assert.equal(m.live - before, 0);
});

testOnBackends("measure() reports peak and retained bytes", async () => {
  const { result, peakBytes, retainedBytes } = await measure(() => {
    const a = tf.zeros([1024]); // 4 KiB
    const b = tf.ones([2048]); // 8 KiB
    a.dispose();
    return b;
  });
  assert.equal(peakBytes, 12288);
  assert.equal(retainedBytes, 8192);
  result.dispose();
});

testOnBackends("measure() counts ledger bytes in the peak and in the retained bytes", async () => {
  const m = meter();
  const { result, peakBytes, retainedBytes } = await measure(() => {
    m.addExternal(5000); // e.g. bytes held in a Uint8Array outside tfjs
    const t = tf.ones([256]); // 1 KiB while the ledger holds 5000 B
    m.addExternal(-5000);
    m.addExternal(300);
    return t;
  });
  assert.equal(peakBytes, 6024);
  assert.equal(retainedBytes, 1324);
  m.addExternal(-300);
  result.dispose();
  const ledgerOnly = await measure(() => {
    m.addExternal(777);
    m.addExternal(-777);
  });
  assert.deepEqual([ledgerOnly.peakBytes, ledgerOnly.retainedBytes], [777, 0], "a ledger-only peak is seen");
});

testOnBackends("measure() peaks are relative to the call's start; the outer peak survives the call", async () => {
  const m = meter();
  m.resetPeak();
  const start = m.live;
  tf.zeros([4096]).dispose(); // 16 KiB peak before the call
  const { peakBytes } = await measure(() => tf.tidy(() => void tf.ones([64]).add(1)));
  assert.equal(peakBytes, 2 * 256 + 4, "ones, the scalar 1 and the sum, not the 16 KiB before the call");
  assert.equal(m.peak - start, 16384, "the peak before the call is kept for whoever measures around it");
});

testOnBackends(
  "GPT step: measured forward bytes equal the analytic count exactly (less the batch's own buffers)",
  () => {
    const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 40 }, { seed: 0 });
    const [b, t] = [4, 32];
    const x = tf.randomUniform([b, t], 0, 40, "int32", 1);
    const y = tf.randomUniform([b, t], 0, 40, "int32", 2);
    const { forwardBytes, savedBytes, grads } = backprop().lossAndGrads(gpt, { x, y });
    const predicted = predictSavedBytes(gpt.savedSpecs([b, t]));
    // The saved ids and targets are reshapes of x and y: 2·4·B·T bytes the meter rightly does not count again.
    assert.equal(forwardBytes, expectedForwardBytes(gpt.savedSpecs([b, t])), "meter vs analytic");
    assert.equal(forwardBytes, predicted - 2 * 4 * b * t);
    assert.equal(savedBytes, predicted, "policy ledger equals the analytic count exactly");
    // The analytic formula by hand for keep-all: per block 16·BTD + BHT² + 4·BT floats.
    const { dim: d, heads: h, layers: l } = gpt.config;
    const v = 40;
    const floats = l * (16 * b * t * d + b * h * t * t + 4 * b * t) + (2 * b * t * d + 2 * b * t) + b * t * v;
    const ints = 2 * b * t; // ids and targets
    assert.equal(predicted, 4 * (floats + ints));
    [x, y, ...Object.values(grads), ...Object.values(gpt.params)].forEach((g) => g.dispose());
  },
);

testOnBackends("ViT step: measured forward bytes equal the analytic count exactly (less the batch's targets)", () => {
  const vit = createVit(VIT_PRESETS.tiny, { seed: 0 });
  const x = tf.randomUniform([8, 28, 28, 1], 0, 1, "float32", 1);
  const y = tf.randomUniform([8], 0, 10, "int32", 2);
  const { forwardBytes, grads } = backprop().lossAndGrads(vit, { x, y });
  const predicted = predictSavedBytes(vit.savedSpecs(x.shape));
  assert.equal(forwardBytes, expectedForwardBytes(vit.savedSpecs(x.shape)), "meter vs analytic");
  assert.equal(forwardBytes, predicted - 4 * 8, "the targets [8] alias y");
  [x, y, ...Object.values(grads), ...Object.values(vit.params)].forEach((g) => g.dispose());
});

testOnBackends("predictSaved() applies the selector (discard predicts zero)", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
  const rows = predictSaved(gpt.savedSpecs([2, 8]), discardAll);
  assert.ok(rows.length > 10);
  assert.ok(rows.every((r) => r.bytes === 0 && r.policy === "discard"));
  assert.ok(rows.some((r) => r.role === "softmax.output" && r.shape.join() === "2,4,8,8"));
  Object.values(gpt.params).forEach((p) => p.dispose());
});
