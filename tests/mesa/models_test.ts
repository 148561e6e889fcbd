import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { predictSavedBytes } from "../../lib/nn/analytic.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import type { Gpt } from "../../lib/models/mod.ts";
import type { Batch } from "../../lib/nn/model.ts";
import { Context, SavedStore } from "../../lib/nn/context.ts";
import { keepAll, type PolicySelector } from "../../lib/nn/policy.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import { mesa, mesaExcept } from "../../lib/mesa/select.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { expectedForwardBytes } from "../_util/accounting.ts";
import { assertNormRelErrors } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

const V = 40, B = 4, T = 32;

function setup(seed = 0): { gpt: Gpt; batch: Batch; dispose(): void } {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: V }, { seed });
  const x = tf.randomUniform([B, T], 0, V, "int32", seed + 1);
  const y = tf.randomUniform([B, T], 0, V, "int32", seed + 2);
  return { gpt, batch: { x, y }, dispose: () => [x, y, ...Object.values(gpt.params)].forEach((t) => t.dispose()) };
}

/** Runs forward (trunk + loss) saving through `selector` and returns the store's report, then runs backward. */
function forwardReport(gpt: Gpt, batch: Batch, selector: PolicySelector) {
  const store = new SavedStore();
  const ctx = new Context({ params: gpt.params, store, selector });
  const trunk = new Sequence("", gpt.layers.slice());
  const logits = trunk.forward(batch.x, ctx);
  gpt.loss.forward(logits, batch.y, ctx.child("loss")).dispose();
  const report = store.report();
  const dlogits = gpt.loss.backward(ctx.child("loss"), logits.shape);
  trunk.backward(dlogits, ctx)?.dispose();
  assert.equal(store.size, 0, "backward consumed every saved tensor");
  [logits, dlogits, ...Object.values(ctx.grads)].forEach((t) => t.dispose());
  return report;
}

for (const grouping of ["per-tensor", "head-wise"] as const) {
  testOnBackends(
    `GPT step (${grouping}): wrapped tensors take 1/4 of float32 + 8 B per group; meter = analytic exactly`,
    () => {
      const { gpt, batch, dispose } = setup();
      const m = mesa({ grouping });
      const report = forwardReport(gpt, batch, m.selector);
      const keepBytes = new Map(forwardReport(gpt, batch, keepAll).map((r) => [r.tag, r.bytes]));
      const wrapped = report.filter((r) => r.policy === m.policy.name);
      assert.equal(wrapped.length, 2 * 11 + 2, "11 tensors per block + ln_f and head inputs");
      let groups = 0;
      for (const r of wrapped) {
        const n = r.shape.reduce((a, b) => a * b, 1);
        const g = grouping === "per-tensor" ? 1 : 4; // 4 heads; 4 channel blocks for [N, C]
        assert.equal(r.bytes, n + 8 * g, `${r.tag}: ${n} codes + ${g} groups`);
        assert.equal(
          r.bytes - 8 * g,
          keepBytes.get(r.tag)! / 4,
          `${r.tag}: codes are exactly 1/4 of the float32 bytes`,
        );
        groups += g;
      }
      assert.ok(report.filter((r) => r.role === "layernorm.stats").every((r) => r.policy === "keep"));

      const keep = backprop().lossAndGrads(gpt, batch);
      const q = backprop({ selector: m.selector }).lossAndGrads(gpt, batch);
      const predicted = predictSavedBytes(gpt.savedSpecs([B, T]), m.selector);
      assert.equal(q.savedBytes, predicted, "policy ledger equals the analytic count exactly");
      // The running ranges already exist (created by forwardReport above), so only the batch aliases differ.
      assert.equal(q.forwardBytes, expectedForwardBytes(gpt.savedSpecs([B, T]), m.selector), "meter vs analytic");
      const ratio = q.forwardBytes / keep.forwardBytes;
      assert.ok(
        ratio < 0.35,
        `Mesa forward bytes ${q.forwardBytes} / keepAll ${keep.forwardBytes} = ${ratio.toFixed(3)}`,
      );
      // Per-group overhead: 24 wrapped tensors x G groups x 8 B = 192 B (per-tensor) or 768 B (head-wise), < 0.5%.
      assert.equal(groups * 8, grouping === "per-tensor" ? 192 : 768);
      assert.ok(groups * 8 < 0.005 * predicted, `overhead ${groups * 8} B of ${predicted} B`);
      [...Object.values(keep.grads), ...Object.values(q.grads)].forEach((t) => t.dispose());
      m.dispose();
      dispose();
    },
  );
}

/** Largest norm-relative gradient error vs exact backprop, measured on every backend (deterministic seeds). */
const MEASURED_WORST = { "per-tensor": 2.354e-2, "head-wise": 2.024e-2, vit: 5.04e-3 };
/** Tolerance: the measured worst case plus a 50% margin (ViT: 100%, its gradients are 4x closer). */
const GRAD_TOL = { "per-tensor": 0.035, "head-wise": 0.03, vit: 0.01 };

for (const grouping of ["per-tensor", "head-wise"] as const) {
  testOnBackends(
    `GPT (${grouping}): loss equals keepAll exactly; every gradient within its norm-relative bound`,
    () => {
      const { gpt, batch, dispose } = setup(3);
      const m = mesa({ grouping, seed: 1 });
      const exact = backprop().lossAndGrads(gpt, batch);
      const q = backprop({ selector: m.selector }).lossAndGrads(gpt, batch);
      assert.equal(q.loss, exact.loss, "the forward pass is exact");
      assert.deepEqual(Object.keys(q.grads).sort(), Object.keys(gpt.params).sort());
      const worst = assertNormRelErrors(q.grads, exact.grads, GRAD_TOL[grouping]);
      assert.ok(worst > 0.2 * MEASURED_WORST[grouping], `8-bit activations must change the gradients: ${worst}`);
      [...Object.values(exact.grads), ...Object.values(q.grads)].forEach((t) => t.dispose());
      m.dispose();
      dispose();
    },
  );
}

testOnBackends("Mesa training steps leak no tensors; the EMA state is created once", () => {
  const { gpt, batch, dispose } = setup(5);
  const start = tf.memory().numTensors;
  const m = mesa({ grouping: "head-wise" });
  const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-3 }), source: backprop({ selector: m.selector }) });
  const first = trainer.step(batch);
  assert.ok(Number.isFinite(first.loss));
  const tags = m.state.size;
  assert.equal(tags, 24, "one running range per wrapped tensor");
  const after = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 3; i++) last = trainer.step(batch);
  assert.equal(tf.memory().numTensors, after, "constant tensor count after warmup");
  assert.equal(m.state.size, tags);
  assert.equal(m.state.get("blocks.0.attn.q")!.updates, 4);
  assert.ok(last.loss < first.loss, `training on one batch lowers the loss: ${first.loss} -> ${last.loss}`);
  trainer.dispose();
  m.dispose();
  assert.equal(tf.memory().numTensors, start, "state and optimizer freed");
  dispose();
});

testOnBackends("per-layer opt-out: excluded tags are saved with the keep policy", () => {
  const { gpt, batch, dispose } = setup(7);
  const m = mesa({ exclude: mesaExcept(["blocks.0", "head"]) });
  const report = forwardReport(gpt, batch, m.selector);
  const byTag = new Map(report.map((r) => [r.tag, r]));
  for (const r of report) {
    const excluded = r.tag.startsWith("blocks.0.") || r.tag.startsWith("head.");
    if (excluded) assert.equal(r.policy, "keep", r.tag);
  }
  for (const tag of ["blocks.0.attn.q", "blocks.0.mlp.gelu.input", "head.ln_f.input", "head.out.input"]) {
    assert.equal(byTag.get(tag)?.policy, "keep", tag);
  }
  for (const tag of ["blocks.1.attn.q", "blocks.1.attn.p", "blocks.1.mlp.fc2.input", "blocks.1.ln2.input"]) {
    assert.equal(byTag.get(tag)?.policy, m.policy.name, tag);
  }
  assert.equal(byTag.get("blocks.1.ln2.mean")?.policy, "keep");
  assert.deepEqual(m.state.tags().filter((t) => t.startsWith("blocks.0.") || t.startsWith("head.")), []);
  m.dispose();
  dispose();
});

testOnBackends(
  "ViT (head-wise): exact loss, gradients within their norm-relative bound, meter = analytic, < 0.35x keepAll",
  () => {
    const vit = createVit(VIT_PRESETS.tiny, { seed: 3 });
    const x = tf.randomUniform([8, 28, 28, 1], 0, 1, "float32", 4), y = tf.randomUniform([8], 0, 10, "int32", 5);
    const m = mesa({ grouping: "head-wise", seed: 2 });
    const exact = backprop().lossAndGrads(vit, { x, y });
    const q = backprop({ selector: m.selector }).lossAndGrads(vit, { x, y });
    assert.equal(q.loss, exact.loss);
    assertNormRelErrors(q.grads, exact.grads, GRAD_TOL.vit);
    // A fresh Mesa state: its running ranges are created during this forward, and the meter sees them.
    assert.equal(q.forwardBytes, expectedForwardBytes(vit.savedSpecs(x.shape), m.selector, m.state.bytes()));
    assert.ok(m.state.bytes() > 0);
    assert.ok(q.forwardBytes < 0.35 * exact.forwardBytes, `${q.forwardBytes} vs keepAll ${exact.forwardBytes}`);
    [x, y, ...Object.values(exact.grads), ...Object.values(q.grads), ...Object.values(vit.params)].forEach((t) =>
      t.dispose()
    );
    m.dispose();
  },
);
