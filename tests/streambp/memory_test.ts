/**
 * StreamBP's memory: an engine hook sees every tensor a step creates, and none of StreamBP's has the elements of a
 * `[B, H, T, T]` attention tensor or of `[B·T, vocab]` logits (plain backprop's do, so the check can fail); the meter's
 * step peak is below per-block checkpointing's; nothing leaks (tensors, meter bytes).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { meter } from "../../lib/memory/mod.ts";
import { createGpt } from "../../lib/models/mod.ts";
import type { GradSource } from "../../lib/nn/mod.ts";
import { streamBp } from "../../lib/streambp/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { testOnBackends } from "../_util/backends.ts";
import { disposeBatch, maskedBatch } from "./_util.ts";

// Sizes where the two tensors StreamBP must never make are the largest of a plain step by a factor of 2:
// B·H·T·T = B·T·V = 32768 elements, while the parameters and the [B·T, 4D] MLP activations have at most 16384.
const B = 2, T = 64, D = 32, H = 4, V = 256;

interface EngineLike {
  trackTensor(a: tf.Tensor, backend: unknown): void;
}

/** Runs `fn` and returns the shapes of the tensors it created, largest first. */
function createdShapes(fn: () => void): number[][] {
  const engine = tf.engine() as unknown as EngineLike;
  const track = engine.trackTensor;
  const shapes: number[][] = [];
  engine.trackTensor = function (a, backend) {
    shapes.push(a.shape.slice());
    return track.call(this, a, backend);
  };
  try {
    fn();
  } finally {
    engine.trackTensor = track;
  }
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  return shapes.sort((a, b) => size(b) - size(a));
}

function step(source: GradSource, gpt: ReturnType<typeof createGpt>, batch: ReturnType<typeof maskedBatch>): void {
  tf.dispose(Object.values(source.lossAndGrads(gpt, batch).grads));
}

testOnBackends(
  "no tensor of B·H·T·T or B·T·vocab elements is ever created by StreamBP (plain backprop makes both)",
  () => {
    const gpt = createGpt({ vocab: V, context: T, dim: D, layers: 2, heads: H, mlpRatio: 4 }, { seed: 1 });
    const batch = maskedBatch(B, T, V, 2, { prompt: [5, 0], pad: [0, 9] });
    const limit = Math.min(B * H * T * T, B * T * V);
    const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
    const plain = createdShapes(() => step(backprop(), gpt, batch));
    assert.ok(plain.some((s) => s.join() === `${B * H},${T},${T}`), "plain backprop makes [B·H, T, T] scores");
    assert.ok(plain.some((s) => s.join() === `${B * T},${V}`), "plain backprop makes [B·T, V] logits");
    for (const [chunk, logitsChunk, maxScores] of [[16, 16, 0], [24, 24, 0], [32, 8, 0], [1, 1, 0], [48, 8, 1024]]) {
      const shapes = createdShapes(() => step(streamBp({ chunk, logitsChunk, maxScores }), gpt, batch));
      const big = shapes.filter((s) => size(s) >= limit);
      assert.deepEqual(big, [], `chunk ${chunk}/${logitsChunk}: tensors with >= ${limit} elements`);
      // The largest is a chunk's logits [B·c, V] or scores [B·H, c, e <= T] (c·e <= maxScores when capped), or the
      // head's weight [D, V].
      const scores = B * H * (maxScores || chunk * T);
      const bound = Math.max(B * logitsChunk * V, scores, D * V);
      assert.ok(size(shapes[0]) <= bound, `chunk ${chunk}/${logitsChunk}: largest tensor [${shapes[0]}] > ${bound}`);
    }
    disposeBatch(batch);
    tf.dispose(Object.values(gpt.params));
  },
);

testOnBackends("the meter: StreamBP's step peak is below per-block checkpointing's, and a step leaves nothing", () => {
  const gpt = createGpt({ vocab: V, context: T, dim: D, layers: 2, heads: H, mlpRatio: 4 }, { seed: 3 });
  const batch = maskedBatch(B, T, V, 4);
  const m = meter();
  const peakOf = (source: GradSource) => {
    step(source, gpt, batch); // warm-up (kernel setup)
    const tensors = tf.memory().numTensors, live = m.live;
    m.resetPeak();
    step(source, gpt, batch);
    assert.equal(tf.memory().numTensors, tensors, `${source.name}: tensor leak`);
    assert.equal(m.live, live, `${source.name}: bytes leak`);
    return m.peak - live;
  };
  const ckpt = peakOf(backprop({ trunk: checkpoint("every") }));
  const logits = B * T * V * 4;
  for (const kv of ["cache", "recompute"] as const) {
    const sbp = peakOf(streamBp({ chunk: 16, kv }));
    // Per-block checkpointing holds the whole logits and their gradient; StreamBP one chunk's.
    assert.ok(sbp < ckpt - logits, `kv ${kv}: StreamBP peak ${sbp} B vs checkpoint("every") ${ckpt} B`);
  }
  disposeBatch(batch);
  tf.dispose(Object.values(gpt.params));
});
