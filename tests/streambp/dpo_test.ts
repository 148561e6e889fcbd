/**
 * StreamBP's DPO pair loss (two chunked head passes): its loss and gradients equal tf.grads of the unchunked DPO loss
 * on the whole-sequence forward, for several chunk sizes, with response masks and padding.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { Context, inferLogits, type Params, SavedStore, Sequence } from "../../lib/nn/mod.ts";
import { streamDpo } from "../../lib/streambp/mod.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertGradsMatch, disposeBatch, maskedBatch } from "./_util.ts";

const T = 9, V = 23, BETA = 0.5;

/** Per-row Σ_t w·log p(y) from logits [B, T, V] (stock ops). */
function seqLogp(logits: tf.Tensor, y: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [b, t, v] = logits.shape;
  const lp = tf.sum(tf.mul(tf.logSoftmax(logits.reshape([b * t, v])), tf.oneHot(y.reshape([-1]) as tf.Tensor1D, v)), 1);
  return tf.sum(tf.mul(lp.reshape([b, t]), w), 1); // [B]
}

testOnBackends("StreamBP DPO: loss and gradients equal tf.grads of the unchunked DPO loss", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: V, context: T, layers: 2 }, { seed: 11 });
  // The reference: the same architecture with other weights.
  const other = createGpt({ ...GPT_PRESETS.tiny, vocab: V, context: T, layers: 2 }, { seed: 12 });
  const reference: Params = other.params;
  // Two pairs: rows 0, 1 chosen, rows 2, 3 rejected; prompts masked, right padding.
  const batch = maskedBatch(4, T, V, 13, { prompt: [3, 2, 3, 2], pad: [1, 0, 2, 3] });
  const names = Object.keys(gpt.params);
  const refLogp = tf.tidy(() => seqLogp(inferLogits(other, batch.x), batch.y, batch.weights!));
  const store = new SavedStore();
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((...ps: tf.Tensor[]) => {
      const p: Params = {};
      names.forEach((n, i) => (p[n] = ps[i]));
      // The saved clones keep the intermediates' buffers alive for tf.grads (Sequence disposes the tensors).
      const ctx = new Context({ params: p, store });
      const logits = new Sequence("", gpt.layers.slice()).forward(batch.x, ctx);
      const delta = tf.sub(seqLogp(logits, batch.y, batch.weights!), refLogp); // [4]: logπ − logπ_ref
      const margin = tf.mul(tf.sub(delta.slice([0], [2]), delta.slice([2], [2])), BETA);
      return tf.mean(tf.softplus(tf.neg(margin))) as tf.Scalar; // −log σ(m) (tf.logSigmoid has no working gradient here)
    })(names.map((n) => gpt.params[n]))
  );
  store.dispose();
  const oracleLoss = value.dataSync()[0];
  const oracle = Object.fromEntries(names.map((n, i) => [n, grads[i]]));
  for (const chunk of [1, 4, T]) {
    for (const kv of ["cache", "recompute"] as const) {
      const r = streamDpo({ reference, beta: BETA, chunk, kv }).lossAndGrads(gpt, batch);
      assert.ok(
        Math.abs(r.loss - oracleLoss) <= 1e-5 * Math.abs(oracleLoss),
        `chunk ${chunk}: ${r.loss} vs ${oracleLoss}`,
      );
      assertGradsMatch(r.grads, oracle, `DPO chunk ${chunk}, kv ${kv}`);
      tf.dispose(Object.values(r.grads));
    }
  }
  tf.dispose([value, refLogp, ...grads, ...Object.values(gpt.params), ...Object.values(other.params)]);
  disposeBatch(batch);
});

testOnBackends("StreamBP DPO leaks nothing and rejects odd batches and bad beta", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: V, context: T, layers: 1 }, { seed: 3 });
  const batch = maskedBatch(2, T, V, 4, { prompt: [2, 2], pad: [0, 1] });
  const before = tf.memory().numTensors;
  const r = streamDpo({ reference: gpt.params, chunk: 4 }).lossAndGrads(gpt, batch);
  assert.ok(Math.abs(r.loss - Math.log(2)) < 1e-6, `policy = reference: loss log 2, got ${r.loss}`);
  tf.dispose(Object.values(r.grads));
  assert.equal(tf.memory().numTensors, before);
  const odd = maskedBatch(3, T, V, 5);
  assert.throws(() => streamDpo({ reference: gpt.params }).lossAndGrads(gpt, odd), /an even number of rows/);
  assert.throws(() => streamDpo({ reference: gpt.params, beta: 0 }), /'beta' must be a positive number/);
  assert.throws(() => streamDpo({ reference: gpt.params, chunk: 0 }), /'chunk' must be a positive integer/);
  [batch, odd].forEach(disposeBatch);
  tf.dispose(Object.values(gpt.params));
});
