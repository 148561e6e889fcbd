/**
 * StreamBP's loss and gradients equal plain backprop's, per parameter within the bounds, for chunk sizes
 * 1, 3 (not dividing T), T/2 and T, with and without a prompt mask and right padding, in both key/value modes.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { streamBp } from "../../lib/streambp/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertGradsMatch, disposeBatch, maskedBatch } from "./_util.ts";

const T = 10;

testOnBackends(
  "StreamBP loss and gradients equal plain backprop for chunks 1, 3, T/2, T (masks, padding)",
  async () => {
    const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 37, context: T, layers: 2 }, { seed: 7 });
    const batches = {
      plain: maskedBatch(2, T, 37, 1),
      "prompt mask + padding": maskedBatch(2, T, 37, 3, { prompt: [3, 1], pad: [2, 0] }),
    };
    await assertNoLeaks(() => {
      for (const [label, batch] of Object.entries(batches)) {
        const ref = backprop().lossAndGrads(gpt, batch);
        try {
          for (const kv of ["cache", "recompute"] as const) {
            for (const chunk of [1, 3, T / 2, T]) {
              const what = `${label}, chunk ${chunk}, kv ${kv}`;
              const got = streamBp({ chunk, kv }).lossAndGrads(gpt, batch);
              try {
                assert.ok(Math.abs(got.loss - ref.loss) <= 1e-6 * ref.loss, `${what}: loss ${got.loss} vs ${ref.loss}`);
                assertGradsMatch(got.grads, ref.grads, what);
              } finally {
                tf.dispose(Object.values(got.grads));
              }
            }
          }
        } finally {
          tf.dispose(Object.values(ref.grads));
        }
      }
    });
    Object.values(batches).forEach(disposeBatch);
    tf.dispose(Object.values(gpt.params));
  },
);

testOnBackends(
  "head and block chunks may differ, block chunks may shrink (maxScores), a chunk longer than T is all of it",
  () => {
    const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 23, context: 12, layers: 1 }, { seed: 8 });
    const batch = maskedBatch(3, 7, 23, 5, { prompt: [2, 0, 4], pad: [0, 3, 1] });
    const ref = backprop().lossAndGrads(gpt, batch);
    for (const [chunk, logitsChunk, maxScores] of [[2, 5, 0], [4, 1, 0], [100, 3, 0], [7, 100, 0], [4, 3, 10]]) {
      const got = streamBp({ chunk, logitsChunk, maxScores }).lossAndGrads(gpt, batch);
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-6 * ref.loss, `chunk ${chunk}/${logitsChunk}: loss`);
      assertGradsMatch(got.grads, ref.grads, `chunk ${chunk}, logits ${logitsChunk}`);
      tf.dispose(Object.values(got.grads));
    }
    tf.dispose(Object.values(ref.grads));
    disposeBatch(batch);
    tf.dispose(Object.values(gpt.params));
  },
);

testOnBackends("a batch whose every target is masked has loss 0 and zero gradients, like plain backprop", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 11, context: 6, layers: 1 }, { seed: 9 });
  const batch = maskedBatch(2, 6, 11, 2, { prompt: [6, 6], pad: [0, 0] });
  const ref = backprop().lossAndGrads(gpt, batch);
  const got = streamBp({ chunk: 4 }).lossAndGrads(gpt, batch);
  assert.equal(ref.loss, 0);
  assert.equal(got.loss, 0);
  for (const g of Object.values(got.grads)) assert.equal(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]), 0);
  tf.dispose([...Object.values(ref.grads), ...Object.values(got.grads)]);
  disposeBatch(batch);
  tf.dispose(Object.values(gpt.params));
});
