import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint, type CheckpointPlan, CheckpointSegment, predictPeakSavedBytes } from "../../lib/checkpoint/mod.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { measure } from "../../lib/memory/mod.ts";
import { predictSavedBytes } from "../../lib/nn/analytic.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { trunkSavedSpecs } from "../../lib/nn/model.ts";
import { Context } from "../../lib/nn/context.ts";
import { byRole, keepAll } from "../../lib/nn/policy.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import { backprop } from "../../lib/train/backprop.ts";
import type { TrunkTransform } from "../../lib/nn/layer.ts";
import { maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { trackSaved } from "../_util/saved_tracker.ts";
import { countingPolicy, disposeAll, type PolicyEvent, tokenBatch } from "./_util.ts";

testOnBackends("saved bytes after forward equal the analytic count of the checkpointed trunk", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 24, context: 16, layers: 4 }, { seed: 0 });
  const [b, t] = [3, 16];
  const batch = tokenBatch(b, t, 24);
  const plain = backprop().lossAndGrads(gpt, batch);
  const plans: CheckpointPlan[] = ["every", "sqrt", { every: 3 }, { segments: [1, 3] }];
  for (const plan of plans) {
    const transform = checkpoint(plan);
    const { savedBytes, grads } = backprop({ trunk: transform }).lossAndGrads(gpt, batch);
    const predicted = predictSavedBytes(trunkSavedSpecs(transform(gpt.layers), gpt.loss, [b, t]));
    assert.equal(savedBytes, predicted, `plan ${JSON.stringify(plan)}`);
    Object.values(grads).forEach((g) => g.dispose());
  }
  // By hand for "every": 4 block inputs [B,T,D] + embedding ids + head (ln_f input + stats, out input) + loss.
  const { dim: d } = gpt.config;
  const v = 24;
  const every = 4 * (4 * b * t * d + b * t + (2 * b * t * d + 2 * b * t) + b * t * v + b * t);
  assert.equal(predictSavedBytes(trunkSavedSpecs(checkpoint("every")(gpt.layers), gpt.loss, [b, t])), every);
  assert.ok(every < plain.savedBytes / 4, `checkpointed ${every} vs plain ${plain.savedBytes}`);
  Object.values(plain.grads).forEach((g) => g.dispose());
  disposeAll(batch, gpt);
});

testOnBackends("sqrt checkpointing lowers the measured whole-step peak of an 8-layer GPT", async () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 32, context: 32, layers: 8 }, { seed: 0 });
  const [b, t] = [4, 32];
  const batch = tokenBatch(b, t, 32);
  const step = async (trunk?: ReturnType<typeof checkpoint>) => {
    const source = backprop(trunk ? { trunk } : {});
    Object.values(source.lossAndGrads(gpt, batch).grads).forEach((g) => g.dispose()); // warm-up
    const m = await measure(() => source.lossAndGrads(gpt, batch));
    Object.values(m.result.grads).forEach((g) => g.dispose());
    return { peak: m.peakBytes, saved: m.result.savedBytes };
  };
  const base = await step();
  const sqrt = await step(checkpoint("sqrt"));
  assert.ok(sqrt.peak < base.peak, `sqrt peak ${sqrt.peak} vs baseline ${base.peak}`);
  assert.ok(sqrt.saved < base.saved / 3, `sqrt saved ${sqrt.saved} vs baseline ${base.saved}`);
  // The analytic peak of what is held for backward follows the same order, and equals the saved count without
  // checkpointing.
  const predict = (layers = gpt.layers) => predictPeakSavedBytes(layers, [b, t], { loss: gpt.loss });
  assert.equal(predict(), base.saved);
  assert.ok(predict(checkpoint("sqrt")(gpt.layers)) < predict() / 2);
  assert.ok(predict(checkpoint("sqrt")(gpt.layers)) >= sqrt.saved);
  disposeAll(batch, gpt);
});

testOnBackends("predictPeakSavedBytes equals the measured maximum of the bytes held for backward", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 24, context: 16, dim: 32, layers: 4 }, { seed: 0 });
  const [b, t] = [2, 16];
  const batch = tokenBatch(b, t, 24);
  const weighted = { ...batch, weights: tf.tidy(() => tf.randomUniform([b, t], 0, 1, "float32", 3).round()) };
  const nested: TrunkTransform = (layers) => [
    layers[0],
    new CheckpointSegment([layers[1], new CheckpointSegment([layers[2], layers[3]], { name: "inner" })], {
      name: "outer",
    }),
    ...layers.slice(4),
  ];
  const trunks: [string, TrunkTransform | undefined][] = [
    ["no checkpointing", undefined],
    ["every", checkpoint("every")],
    ["sqrt", checkpoint("sqrt")],
    ["{ every: 3 }", checkpoint({ every: 3 })],
    ["{ segments: [1, 3] }", checkpoint({ segments: [1, 3] })],
    ["one segment over the whole trunk", checkpoint({ plan: { every: 100 }, include: () => true })],
  ];
  const m = mesa({ grouping: "head-wise" });
  for (const [what, trunk] of trunks) {
    for (const [selName, selector] of [["keepAll", keepAll], ["mesa", m.selector]] as const) {
      for (const data of what === "sqrt" ? [batch, weighted] : [batch]) {
        const tracker = trackSaved(selector);
        const r = backprop({ selector: tracker.selector, ...(trunk ? { trunk } : {}) }).lossAndGrads(gpt, data);
        tf.dispose(Object.values(r.grads));
        const layers = trunk ? trunk(gpt.layers) : gpt.layers;
        const predicted = predictPeakSavedBytes(layers, [b, t], { selector, loss: gpt.loss, weighted: !!data.weights });
        const label = `${what}, ${selName}${data.weights ? ", weighted" : ""}`;
        assert.equal(tracker.peak, predicted, `${label}: measured peak vs predicted`);
        assert.equal(tracker.held(), 0, `${label}: nothing held after the step`);
      }
    }
  }
  // Nested segments: the outer segment frees its reloaded input once its recompute's forward is done, before the inner
  // segment recomputes, and the prediction counts exactly that.
  for (const [selName, selector] of [["keepAll", keepAll], ["mesa", m.selector]] as const) {
    const tracker = trackSaved(selector);
    const r = backprop({ selector: tracker.selector, trunk: nested }).lossAndGrads(gpt, batch);
    tf.dispose(Object.values(r.grads));
    const predicted = predictPeakSavedBytes(nested(gpt.layers), [b, t], { selector, loss: gpt.loss });
    assert.equal(tracker.peak, predicted, `nested, ${selName}: measured peak vs predicted`);
  }
  m.dispose();
  weighted.weights.dispose();
  disposeAll(batch, gpt);
});

testOnBackends("no tensor leaks over several checkpointed steps, with keepAll and with a custom selector", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 4 }, { seed: 1 });
  const batch = tokenBatch(2, 8, 16);
  const log: PolicyEvent[] = [];
  const selector = byRole({ "gelu.input": countingPolicy(log) });
  for (const source of [backprop({ trunk: checkpoint("sqrt") }), backprop({ trunk: checkpoint("every"), selector })]) {
    Object.values(source.lossAndGrads(gpt, batch).grads).forEach((g) => g.dispose());
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) Object.values(source.lossAndGrads(gpt, batch).grads).forEach((g) => g.dispose());
    assert.equal(tf.memory().numTensors, before, `${source.name}: tensor leak`);
  }
  assert.equal(log.filter((e) => e.op === "pack").length, 5 * 4, "one gelu.input pack per block per step");
  disposeAll(batch, gpt);
});

testOnBackends("the recomputed forward saves through the outer selector; the checkpointed forward does not", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 3 }, { seed: 2 });
  const batch = tokenBatch(2, 8, 16);
  const log: PolicyEvent[] = [];
  const counting = countingPolicy(log);
  const selector = byRole({ "gelu.input": counting, "loss.probs": counting });
  const packsBeforeBackward = (events: PolicyEvent[]) =>
    events.slice(0, events.findIndex((e) => e.op === "unpack" && e.role === "loss.probs"))
      .filter((e) => e.op === "pack" && e.role === "gelu.input").length;

  // Plain backprop: the three gelu inputs are packed during forward.
  const plain = backprop({ selector }).lossAndGrads(gpt, batch);
  assert.equal(packsBeforeBackward(log), 3);
  log.length = 0;

  // Checkpointed: no gelu pack in forward; each block's gelu input is packed (and unpacked) during its recompute.
  const ck = backprop({ trunk: checkpoint("every"), selector }).lossAndGrads(gpt, batch);
  assert.equal(packsBeforeBackward(log), 0);
  const gelu = log.filter((e) => e.role === "gelu.input").map((e) => `${e.op} ${e.tag}`);
  assert.deepEqual(gelu, [
    "pack blocks.2.mlp.gelu.input",
    "unpack blocks.2.mlp.gelu.input",
    "pack blocks.1.mlp.gelu.input",
    "unpack blocks.1.mlp.gelu.input",
    "pack blocks.0.mlp.gelu.input",
    "unpack blocks.0.mlp.gelu.input",
  ]);
  assert.equal(ck.loss, plain.loss);
  for (const [name, g] of Object.entries(plain.grads)) assert.ok(maxRelError(ck.grads[name], g) <= 1e-5, name);
  [...Object.values(plain.grads), ...Object.values(ck.grads)].forEach((g) => g.dispose());

  // Stepping through by hand: after the forward the store holds only segment inputs, embed, head and loss tensors.
  const trunk = new Sequence("", checkpoint("sqrt")(gpt.layers));
  const ctx = new Context({ params: gpt.params, selector });
  log.length = 0;
  const logits = trunk.forward(batch.x, ctx);
  const tags = ctx.store.report().map((r) => r.tag);
  assert.ok(tags.includes("checkpoint[blocks.0..blocks.1].input") && tags.includes("checkpoint[blocks.2].input"));
  assert.ok(!tags.some((tag) => tag.startsWith("blocks.")), `nothing inside the blocks: ${tags}`);
  assert.equal(log.length, 0);
  const dx = trunk.backward(tf.onesLike(logits), ctx);
  assert.equal(dx, null, "token ids get no gradient");
  assert.equal(ctx.store.size, 0);
  assert.equal(log.filter((e) => e.op === "pack").length, 3);
  logits.dispose();
  Object.values(ctx.grads).forEach((g) => g.dispose());
  disposeAll(batch, gpt);
});
