/**
 * Causal attention's blocked products (`lib/nn/kernels/causal_matmul.ts`) equal the full products on every entry the
 * causal mask (`causal_mask.ts`) keeps, for square and offset (StreamBP) shapes and block sizes that do and do not
 * divide T; the attention layer's forward and backward with them equal the full products'.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend, setFusedKernels } from "../../../lib/backend/mod.ts";
import {
  CAUSAL_BLOCK,
  causalLowerMatMul,
  causalLowerMatMulT,
  causalMaskValues,
  causalQkvGrad,
  causalScores,
} from "../../../lib/nn/kernels/mod.ts";
import { Context, SelfAttention } from "../../../lib/nn/mod.ts";
import { initParams } from "../../../lib/models/init.ts";
import { assertNoLeaks, maxRelError } from "../../_util/assert_close.ts";
import { needsBlas } from "../../_util/backends.ts";

/** `[bh, tq, tk]` shapes with block sizes: square, offset queries (tq < tk), one row, blocks of 1, not dividing. */
const CASES: { bh: number; tq: number; tk: number; d: number; block: number }[] = [
  { bh: 3, tq: 16, tk: 16, d: 8, block: 4 },
  { bh: 2, tq: 13, tk: 13, d: 5, block: 4 },
  { bh: 2, tq: 5, tk: 13, d: 6, block: 2 },
  { bh: 2, tq: 7, tk: 9, d: 3, block: 3 },
  { bh: 1, tq: 1, tk: 6, d: 4, block: 32 },
  { bh: 2, tq: 6, tk: 6, d: 4, block: 1 },
  { bh: 2, tq: 40, tk: 40, d: 8, block: CAUSAL_BLOCK },
];

/** 1 where query row i sees key j, else 0, as `[1, tq, tk]`. */
function visible(tq: number, tk: number): tf.Tensor {
  return tf.tensor(causalMaskValues(tq, tk).map((m) => (m === 0 ? 1 : 0)), [1, tq, tk]);
}

/** Runs `f` with the causal kernels on (blocked) and off (the full products). */
function bothWays(f: () => tf.Tensor): { blocked: Float32Array; full: Float32Array } {
  const run = (on: boolean) => {
    const before = setFusedKernels(on, "causal");
    try {
      const t = f();
      const out = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      return out;
    } finally {
      setFusedKernels(before, "causal");
    }
  };
  return { blocked: run(true), full: run(false) };
}

Deno.test({
  ...needsBlas("causal blocked products equal the full ones on the visible entries (blas)"),
  async fn() {
    await initBackend({ backend: "blas" });
    assert.ok(causalScores.active() && causalLowerMatMul.active(), "the causal kernels are on for blas");
    await assertNoLeaks(() => {
      for (const { bh, tq, tk, d, block } of CASES) {
        const at = `[${bh}, ${tq}, ${tk}] d ${d} block ${block}`;
        tf.tidy(() => {
          const mask = visible(tq, tk);
          const q = tf.randomNormal([bh, tq, d], 0, 1, "float32", 1);
          const k = tf.randomNormal([bh, tk, d], 0, 1, "float32", 2);
          const dq = tf.randomNormal([bh, tq, d], 0, 1, "float32", 4);
          const lower = tf.mul(tf.randomNormal([bh, tq, tk], 0, 1, "float32", 3), mask);

          const s = bothWays(() => causalScores(q, k, block));
          const m = mask.dataSync();
          const seen: number[] = [], seenFull: number[] = [];
          for (let i = 0; i < s.full.length; i++) {
            // The same dot products of length d (BLAS's edge kernels may round differently); masked entries are 0.
            if (m[i % (tq * tk)] === 1) {
              seen.push(s.blocked[i]);
              seenFull.push(s.full[i]);
            } else assert.equal(s.blocked[i], 0, `${at} scores masked entry ${i}`);
          }
          assert.ok(maxRelError(seen, seenFull) <= 1e-5, `${at} visible scores vs the full product`);

          // The lower operands are 0 above the diagonal (softmax probabilities and their gradient are).
          const nn = bothWays(() => causalLowerMatMul(lower, k, block));
          assert.ok(maxRelError(nn.blocked, nn.full) <= 1e-5, `${at} a·b vs the full product`);
          const tn = bothWays(() => causalLowerMatMulT(lower, dq, block));
          assert.ok(maxRelError(tn.blocked, tn.full) <= 1e-5, `${at} aᵀ·b vs the full product`);
        });
      }
    });
  },
});

Deno.test({
  ...needsBlas("causal attention with the blocked products equals the full products, forward and backward (blas)"),
  async fn() {
    await initBackend({ backend: "blas" });
    const attn = new SelfAttention("attn", 16, 2);
    const params = initParams(attn.paramSpecs(), 7);
    const x = tf.randomNormal([2, 11, 16], 0, 1, "float32", 8);
    await assertNoLeaks(() => {
      for (const start of [0, 4, 10]) {
        const dy = tf.randomNormal([2, 11 - start, 16], 0, 1, "float32", 9);
        const run = (on: boolean) => {
          const before = setFusedKernels(on, "causal");
          try {
            const ctx = new Context({ params });
            const y = attn.forward(x, ctx, start);
            const dx = attn.backward(dy, ctx);
            const grads = ctx.grads;
            const out = [y, dx, ...Object.keys(grads).sort().map((n) => grads[n])];
            const arrays = out.map((t) => Float32Array.from(t.dataSync() as Float32Array));
            tf.dispose(out);
            ctx.store.dispose();
            return arrays;
          } finally {
            setFusedKernels(before, "causal");
          }
        };
        const blocked = run(true), full = run(false);
        assert.equal(blocked.length, full.length);
        blocked.forEach((a, i) => {
          const err = maxRelError(a, full[i]);
          assert.ok(err <= 1e-5, `start ${start} output ${i}: blocked vs full max relative error ${err}`);
        });
        dy.dispose();
      }
    });
    tf.dispose([x, ...Object.values(params)]);
  },
});

Deno.test({
  ...needsBlas(
    "causal blocked products on merged heads [B, T, H·d] and the q/k/v gradient equal their stock ops (blas)",
  ),
  async fn() {
    await initBackend({ backend: "blas" });
    await assertNoLeaks(() => {
      for (const [b, h, tq, tk, d, block] of [[2, 3, 9, 9, 4, 4], [2, 2, 5, 12, 3, 2], [1, 4, 33, 33, 8, 32]]) {
        const at = `B ${b} H ${h} [${tq}, ${tk}] d ${d} block ${block}`;
        tf.tidy(() => {
          const mask = visible(tq, tk);
          const heads = tf.randomNormal([b, tq, h * d], 0, 1, "float32", 11); // merged [B, tq, H·d]
          const k = tf.randomNormal([b * h, tk, d], 0, 1, "float32", 12);
          const q = tf.randomNormal([b * h, tq, d], 0, 1, "float32", 13);
          const p = tf.mul(tf.randomUniform([b * h, tq, tk], 0, 1, "float32", 14), mask);
          const ds = tf.mul(tf.randomNormal([b * h, tq, tk], 0, 1, "float32", 15), mask);
          const m = mask.dataSync();
          const s = bothWays(() => causalScores(heads, k, block, h));
          const seen = (x: Float32Array) => x.filter((_, i) => m[i % (tq * tk)] === 1);
          assert.ok(maxRelError(seen(s.blocked), seen(s.full)) <= 1e-5, `${at} scores of merged heads`);
          assert.ok(s.blocked.every((x, i) => m[i % (tq * tk)] === 1 || x === 0), `${at} masked scores are 0`);
          for (
            const [what, f] of [
              ["a·b into merged heads", () => causalLowerMatMul(p, k, block, h)],
              ["aᵀ·b of merged heads", () => causalLowerMatMulT(p, heads, block, h)],
              ["q/k/v gradient", () => causalQkvGrad(ds, p, q, k, heads, h, block)],
            ] as const
          ) {
            const r = bothWays(f);
            assert.equal(r.blocked.length, r.full.length, `${at} ${what}: size`);
            assert.ok(maxRelError(r.blocked, r.full) <= 1e-5, `${at} ${what} vs the stock ops`);
          }
        });
      }
    });
  },
});
