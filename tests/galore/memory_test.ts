import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { galore } from "../../lib/galore/galore.ts";
import { galoreStateBytes, galoreStateBytesAnalytic } from "../../lib/galore/memory.ts";
import { meter } from "../../lib/memory/meter.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { disposeTree } from "../../lib/nn/params.ts";
import { adamw } from "../../lib/optim/adam.ts";
import { disposeState } from "../../lib/optim/transform.ts";
import { testOnBackends } from "../_util/backends.ts";

const shapesOf = (params: Record<string, tf.Tensor>) =>
  Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape]));

testOnBackends("optimizer-state bytes: meter = analytic formula = the state's tensors, per group (GPT-tiny)", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 });
  const shapes = shapesOf(gpt.params);
  const m = meter();
  for (const rank of [4, 16, 64]) {
    const before = m.live;
    const opt = galore({ lr: 0.01, rank, svd: "randomized" });
    const state = opt.init(gpt.params);
    const metered = m.live - before;
    const analytic = galoreStateBytesAnalytic(shapes, { rank });
    const counted = galoreStateBytes(state);
    assert.equal(metered, analytic.total, `rank ${rank}: meter vs formula`);
    assert.deepEqual(counted.projected.moments, analytic.projected.moments);
    assert.deepEqual(counted.projected.projectors, analytic.projected.projectors);
    assert.deepEqual(counted.unprojected.moments, analytic.unprojected.moments);
    // GPT-tiny: 2 blocks × (qkv, proj, fc1, fc2) projected; D = 64.
    assert.equal(analytic.projected.params, 8);
    const d = 64;
    const perBlock = (2 * rank * 3 * d + rank * d) + (2 * rank * d + rank * d) + 2 * (2 * rank * 4 * d + rank * d);
    assert.equal(analytic.projected.total, 4 * 2 * perBlock);
    disposeState(state);
    assert.equal(m.live, before);
  }
  // With nothing projected the formula is AdamW's 2 × parameter bytes, and so is the meter.
  const before = m.live;
  const state = adamw({ lr: 0.01 }).init(gpt.params);
  assert.equal(m.live - before, galoreStateBytesAnalytic(shapes, { rank: 1, include: () => false }).total);
  disposeState(state);
  disposeTree(gpt.params);
});

Deno.test("GPT-small at rank d/4: the analytic optimizer state (projectors included) is <= 0.32x AdamW's", () => {
  // Shapes of GPT_PRESETS.small with the Moby Dick vocabulary (89 symbols); no tensors needed.
  const d = 256, v = 89, t = 128, layers = 4;
  const shapes: Record<string, number[]> = {
    "embed.wte": [v, d],
    "embed.wpe": [t, d],
    "head.ln_f.g": [d],
    "head.ln_f.b": [d],
  };
  shapes["head.out.w"] = [d, v];
  shapes["head.out.b"] = [v];
  for (let l = 0; l < layers; l++) {
    Object.assign(shapes, {
      [`blocks.${l}.ln1.g`]: [d],
      [`blocks.${l}.ln1.b`]: [d],
      [`blocks.${l}.attn.qkv.w`]: [d, 3 * d],
      [`blocks.${l}.attn.qkv.b`]: [3 * d],
      [`blocks.${l}.attn.proj.w`]: [d, d],
      [`blocks.${l}.attn.proj.b`]: [d],
      [`blocks.${l}.ln2.g`]: [d],
      [`blocks.${l}.ln2.b`]: [d],
      [`blocks.${l}.mlp.fc1.w`]: [d, 4 * d],
      [`blocks.${l}.mlp.fc1.b`]: [4 * d],
      [`blocks.${l}.mlp.fc2.w`]: [4 * d, d],
      [`blocks.${l}.mlp.fc2.b`]: [d],
    });
  }
  const g = galoreStateBytesAnalytic(shapes, { rank: d / 4 });
  const adam = galoreStateBytesAnalytic(shapes, { rank: 1, include: () => false });
  const ratio = g.total / adam.total;
  assert.ok(ratio <= 0.32, `ratio ${ratio}`);
  assert.ok(ratio > 0.3, `ratio ${ratio}`); // 0.312: the unprojected embeddings and head are ~9% of AdamW's state
});
