/**
 * StreamBP + Mesa: every chunk's recompute runs with the pass's `{ step, seed }` key, so Mesa's rounding noise replays
 * (the same key gives bit-identical gradients, another step other ones), each tag's running range is folded once per
 * key however many chunks pack it, the quantized tags are plain Mesa's, and the gradient stays as close to the exact
 * one as plain backprop + Mesa's.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { mesa } from "../../lib/mesa/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import type { ForwardKey, Grads, GradSource } from "../../lib/nn/mod.ts";
import { streamBp } from "../../lib/streambp/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { testOnBackends } from "../_util/backends.ts";
import { disposeBatch, gradError, maskedBatch } from "./_util.ts";

const T = 12;
const bits = (g: Grads) =>
  Object.fromEntries(
    Object.entries(g).map(([k, t]) => [k, Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer))]),
  );

testOnBackends("StreamBP + Mesa replays Mesa's noise from the key and folds each range once per key", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 31, context: T, layers: 2 }, { seed: 5 });
  const batch = maskedBatch(2, T, 31, 6, { prompt: [2, 0], pad: [0, 3] });
  const run = (
    m: ReturnType<typeof mesa>,
    key: ForwardKey,
    source?: (s: ReturnType<typeof mesa>["selector"]) => GradSource,
  ) => {
    const src = source ? source(m.selector) : streamBp({ chunk: 5, selector: m.selector });
    const r = src.lossAndGrads(gpt, batch, { key });
    const out = bits(r.grads);
    tf.dispose(Object.values(r.grads));
    return out;
  };
  const a = mesa({ grouping: "head-wise", seed: 3 });
  const first = run(a, { step: 4, seed: 1 });
  const tags = a.state.tags();
  assert.ok(tags.length >= 20, `Mesa quantized ${tags.length} tags`);
  for (const tag of tags) {
    assert.equal(a.state.get(tag)!.updates, 1, `${tag}: folded once for one key (3 chunks pack it)`);
  }
  // A replay of the same key (same state) and a fresh Mesa with the same key give the same bits.
  assert.deepEqual(run(a, { step: 4, seed: 1 }), first, "replay with the same key");
  for (const tag of tags) assert.equal(a.state.get(tag)!.updates, 1, `${tag}: a replay does not fold again`);
  const b = mesa({ grouping: "head-wise", seed: 3 });
  assert.deepEqual(run(b, { step: 4, seed: 1 }), first, "a fresh Mesa, same key");
  // The next step folds in once more and draws other noise.
  const next = run(a, { step: 5, seed: 1 });
  for (const tag of tags) assert.equal(a.state.get(tag)!.updates, 2, `${tag}: one fold per key`);
  assert.notDeepEqual(next["blocks.0.attn.qkv.w"], first["blocks.0.attn.qkv.w"], "another step, other noise");
  // Plain backprop + Mesa quantizes the same tags.
  const c = mesa({ grouping: "head-wise", seed: 3 });
  run(c, { step: 4, seed: 1 }, (selector) => backprop({ selector }));
  assert.deepEqual(c.state.tags().sort(), [...tags].sort());
  [a, b, c].forEach((m) => m.dispose());
  disposeBatch(batch);
  tf.dispose(Object.values(gpt.params));
});

testOnBackends("StreamBP + Mesa is as close to the exact gradient as plain backprop + Mesa", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 31, context: T, layers: 2 }, { seed: 7 });
  const batch = maskedBatch(2, T, 31, 8);
  const exact = backprop().lossAndGrads(gpt, batch);
  const error = (source: GradSource) => {
    const r = source.lossAndGrads(gpt, batch, { key: { step: 1, seed: 2 } });
    let worst = 0;
    for (const [k, g] of Object.entries(exact.grads)) worst = Math.max(worst, gradError(r.grads[k], g).normRel);
    tf.dispose(Object.values(r.grads));
    return worst;
  };
  const m1 = mesa({ grouping: "head-wise" }), m2 = mesa({ grouping: "head-wise" });
  const plainErr = error(backprop({ selector: m1.selector }));
  const streamErr = error(streamBp({ chunk: 4, selector: m2.selector }));
  assert.ok(plainErr > 1e-4, `Mesa must perturb the gradient (plain: ${plainErr})`);
  assert.ok(
    streamErr > 1e-4 && streamErr <= 2 * plainErr,
    `StreamBP + Mesa ${streamErr} vs backprop + Mesa ${plainErr}`,
  );
  [m1, m2].forEach((m) => m.dispose());
  tf.dispose(Object.values(exact.grads));
  disposeBatch(batch);
  tf.dispose(Object.values(gpt.params));
});
