/**
 * The chunked head + loss alone: its loss equals the whole-sequence loss (and a hand-written Σ w·nll / Σ w), its
 * gradients equal tf.grads of the whole-sequence loss, and the per-row factors give the gradient of Σ g_b·rowSum_b.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { Context, type Layer, type Params, SavedStore } from "../../lib/nn/mod.ts";
import { chunkedLoss, chunkRanges, lossDenominator } from "../../lib/streambp/mod.ts";
import { assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { disposeBatch, maskedBatch } from "./_util.ts";

const B = 3, T = 7, V = 29, D = 64;

function setup() {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: V, context: T, layers: 1 }, { seed: 4 });
  const head = gpt.layers[gpt.layers.length - 1];
  const headParams: Params = Object.fromEntries(Object.entries(gpt.params).filter(([k]) => k.startsWith("head.")));
  const hidden = tf.randomNormal([B, T, D], 0, 1, "float32", 6);
  return { gpt, head, headParams, hidden };
}

/** Σ_{b,t} w·(logsumexp(z) − z_y) / N from stock ops (independent of the fused kernels and of the model's loss). */
function handLoss(head: Layer, params: Params, hidden: tf.Tensor, y: tf.Tensor, w: tf.Tensor | undefined, n: number) {
  const ctx = new Context({ params, store: new SavedStore() });
  const z = head.forward(hidden, ctx.child(head.name)).reshape([B * T, V]);
  const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(y.reshape([-1]) as tf.Tensor1D, V)), 1));
  const sum = w ? tf.sum(tf.mul(nll, w.reshape([-1]))) : tf.sum(nll);
  ctx.store.dispose();
  return tf.div(sum, n) as tf.Scalar;
}

testOnBackends("the chunked loss alone equals the whole-sequence loss, with and without a loss mask", async () => {
  const { gpt, head, hidden } = setup();
  const plain = maskedBatch(B, T, V, 1), masked = maskedBatch(B, T, V, 2, { prompt: [2, 0, 5], pad: [1, 3, 0] });
  await assertNoLeaks(() => {
    for (const batch of [plain, masked]) {
      const n = lossDenominator(batch.y.shape, batch.weights);
      assert.equal(n, batch.weights ? 21 - (2 + 5) - (1 + 3) : B * T); // N = Σ w: prompt and padding weigh 0
      const ctx = new Context({ params: gpt.params, store: new SavedStore() });
      const logits = head.forward(hidden, ctx.child(head.name));
      const full = tf.tidy(() => gpt.loss.forward(logits, batch.y, ctx.child("loss"), batch.weights).dataSync()[0]);
      ctx.store.dispose();
      logits.dispose();
      const hand = tf.tidy(() => handLoss(head, gpt.params, hidden, batch.y, batch.weights, n).dataSync()[0]);
      for (const chunk of [1, 3, T]) {
        const r = chunkedLoss(head, hidden, batch.y, batch.weights, new Context({ params: gpt.params }), {
          chunks: chunkRanges(T, chunk),
          backward: false,
        });
        assert.equal(r.dHidden, null);
        assert.ok(Math.abs(r.loss - full) <= 1e-6 * full, `chunk ${chunk}: ${r.loss} vs model loss ${full}`);
        assert.ok(Math.abs(r.loss - hand) <= 1e-5 * hand, `chunk ${chunk}: ${r.loss} vs Σ w·nll / N ${hand}`);
        assert.ok(Math.abs(r.rowSums.reduce((a, x) => a + x, 0) / n - r.loss) <= 1e-12);
      }
    }
  });
  [plain, masked].forEach(disposeBatch);
  tf.dispose([hidden, ...Object.values(gpt.params)]);
});

testOnBackends("the chunked loss's gradients (hidden state, head parameters) equal tf.grads of the whole loss", () => {
  const { gpt, head, headParams, hidden } = setup();
  const names = Object.keys(headParams);
  const batch = maskedBatch(B, T, V, 3, { prompt: [1, 2, 0], pad: [0, 2, 1] });
  for (const rowScale of [undefined, Float64Array.of(0.5, -2, 3)]) {
    const n = rowScale ? 1 : lossDenominator(batch.y.shape, batch.weights);
    const oracle = tf.tidy(() =>
      tf.grads((h: tf.Tensor, ...ps: tf.Tensor[]) => {
        const p: Params = {};
        names.forEach((k, i) => (p[k] = ps[i]));
        if (!rowScale) return handLoss(head, p, h, batch.y, batch.weights, n);
        // Σ_b g_b · Σ_t w·nll
        const ctx = new Context({ params: p, store: new SavedStore() });
        const z = head.forward(h, ctx.child(head.name)).reshape([B * T, V]);
        const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(batch.y.reshape([-1]) as tf.Tensor1D, V)), 1));
        const rows = tf.sum(tf.mul(nll, batch.weights!.reshape([-1])).reshape([B, T]), 1);
        ctx.store.dispose();
        return tf.sum(tf.mul(rows, tf.tensor1d(Float32Array.from(rowScale))));
      })([hidden, ...names.map((k) => headParams[k])])
    );
    for (const chunk of [2, 5]) {
      const ctx = new Context({ params: gpt.params });
      const r = chunkedLoss(head, hidden, batch.y, batch.weights, ctx, {
        chunks: chunkRanges(T, chunk),
        backward: true,
        ...(rowScale ? { rowScale, denominator: 1 } : {}),
      });
      const what = `chunk ${chunk}${rowScale ? ", row factors" : ""}`;
      assert.ok(maxRelError(r.dHidden!, oracle[0]) <= 1e-4, `${what}: dHidden ${maxRelError(r.dHidden!, oracle[0])}`);
      names.forEach((k, i) => assert.ok(maxRelError(ctx.grads[k], oracle[i + 1]) <= 1e-4, `${what}: ${k}`));
      assert.deepEqual(Object.keys(ctx.grads).sort(), [...names].sort());
      tf.dispose([r.dHidden!, ...Object.values(ctx.grads)]);
    }
    tf.dispose(oracle);
  }
  disposeBatch(batch);
  tf.dispose([hidden, ...Object.values(gpt.params)]);
});

testOnBackends("the chunked loss rejects targets that do not match the hidden state", () => {
  const { gpt, head, hidden } = setup();
  const ctx = new Context({ params: gpt.params });
  const opts = { chunks: chunkRanges(T, 2), backward: false };
  const y = tf.zeros([B, T + 1], "int32"), yf = tf.zeros([B, T]);
  assert.throws(() => chunkedLoss(head, hidden, y, undefined, ctx, opts), /'targets' must be \[3, 7\]/);
  assert.throws(() => chunkedLoss(head, hidden, yf, undefined, ctx, opts), /'targets' must be int32/);
  const y0 = tf.zeros([B, T], "int32");
  assert.throws(
    () => chunkedLoss(head, hidden, y0, undefined, ctx, { ...opts, rowScale: new Float64Array(2) }),
    (e: Error) => e instanceof RangeError && /'rowScale' must have 3 entries/.test(e.message),
  );
  tf.dispose([y, yf, y0, hidden, ...Object.values(gpt.params)]);
});
