/**
 * The block run on a chunk against cached keys/values: its forward equals the block's own slice forward, and its
 * explicit backward (input rows, the prefix's key/value gradient returned separately, the chunk's extra key/value
 * gradient, parameters) matches tf.grads.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initParams } from "../../lib/models/init.ts";
import { Context, type Params, SavedStore, TransformerBlock } from "../../lib/nn/mod.ts";
import { type KeyValues, kvBlockBackward, kvBlockForward, kvBlockKeys } from "../../lib/streambp/mod.ts";
import { maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

const B = 2, E = 7, D = 16, H = 2, DH = D / H;

function perturbed(block: TransformerBlock, seed: number): Params {
  const base = initParams(block.paramSpecs(), seed);
  const out: Params = {};
  for (const [k, v] of Object.entries(base)) {
    out[k] = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", seed + k.length)));
    v.dispose();
  }
  return out;
}

function prefixed(params: Params, prefix: string): Params {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [`${prefix}.${k}`, v]));
}

testOnBackends(
  "kvBlockForward on rows [s, e) with the keys/values of [0, s) equals block.forward(x[0:e], ctx, s)",
  () => {
    const block = new TransformerBlock("blk", { dim: D, heads: H, mlpDim: 32 });
    const params = prefixed(perturbed(block, 1), "blk");
    const x = tf.randomNormal([B, E, D], 0, 1, "float32", 3);
    for (const s of [0, 1, 4, 6]) {
      const ctx = () => new Context({ params, store: new SavedStore() }).child("blk");
      const want = block.forward(x, ctx(), s); // [B, E - s, D]
      const past = s === 0 ? null : kvBlockKeys(block, x.slice([0, 0, 0], [B, s, D]), ctx());
      const got = kvBlockForward(block, x.slice([0, s, 0], [B, E - s, D]), past, ctx());
      assert.ok(maxRelError(got.y, want) <= 1e-5, `s = ${s}: ${maxRelError(got.y, want)}`);
      // The chunk's own keys/values are the rows s..e-1 of the keys/values of the whole prefix.
      const all = kvBlockKeys(block, x, ctx());
      assert.ok(maxRelError(got.kv.k, all.k.slice([0, 0, s, 0], [B, H, E - s, DH])) <= 1e-6);
      assert.ok(maxRelError(got.kv.v, all.v.slice([0, 0, s, 0], [B, H, E - s, DH])) <= 1e-6);
      tf.dispose([want, got.y, got.kv.k, got.kv.v, all.k, all.v, ...(past ? [past.k, past.v] : [])]);
    }
    tf.dispose([x, ...Object.values(params)]);
  },
);

testOnBackends(
  "kvBlockBackward matches tf.grads for rows, prefix keys/values, extra key/value gradient, params",
  () => {
    const block = new TransformerBlock("blk", { dim: D, heads: H, mlpDim: 32 });
    const local = perturbed(block, 2);
    const names = Object.keys(local);
    for (const s of [0, 3, 6]) {
      const c = E - s;
      tf.tidy(() => {
        const xc = tf.randomNormal([B, c, D], 0, 1, "float32", 10 + s);
        const pastK = tf.randomNormal([B, H, s, DH], 0, 1, "float32", 20 + s);
        const pastV = tf.randomNormal([B, H, s, DH], 0, 1, "float32", 30 + s);
        const dy = tf.randomNormal([B, c, D], 0, 1, "float32", 40 + s);
        const gk = tf.randomNormal([B, H, c, DH], 0, 1, "float32", 50 + s);
        const gv = tf.randomNormal([B, H, c, DH], 0, 1, "float32", 60 + s);
        const past: KeyValues | null = s === 0 ? null : { k: pastK, v: pastV };
        // Explicit.
        const ctx = new Context({ params: prefixed(local, "blk") }).child("blk");
        const f = kvBlockForward(block, xc, past, ctx);
        const r = kvBlockBackward(block, dy, { k: gk, v: gv }, ctx);
        assert.equal(ctx.store.size, 0, "everything saved was used");
        // Oracle: the gradient of Σ y·dy + Σ k_own·gk + Σ v_own·gv.
        const withPast = s > 0; // tf.grads needs every input on the path: the prefix's keys/values only when s > 0
        const oracle = tf.grads((...args: tf.Tensor[]) => {
          const [x, pk, pv] = withPast ? args : [args[0], null, null];
          const ps = args.slice(withPast ? 3 : 1);
          const p: Params = {};
          names.forEach((n, i) => (p[`blk.${n}`] = ps[i]));
          const octx = new Context({ params: p, store: new SavedStore() }).child("blk");
          const out = kvBlockForward(block, x, withPast ? { k: pk!, v: pv! } : null, octx);
          return tf.addN([tf.sum(tf.mul(out.y, dy)), tf.sum(tf.mul(out.kv.k, gk)), tf.sum(tf.mul(out.kv.v, gv))]);
        })([xc, ...(withPast ? [pastK, pastV] : []), ...names.map((n) => local[n])]);
        const at = withPast ? 3 : 1;
        const check = (got: tf.Tensor, want: tf.Tensor, what: string) => {
          const e = maxRelError(got, want);
          assert.ok(e <= 1e-4, `s = ${s}: ${what}: max rel error ${e}`);
        };
        check(r.dx, oracle[0], "dx");
        if (s > 0) {
          check(r.dPast!.k, oracle[1], "dPast.k");
          check(r.dPast!.v, oracle[2], "dPast.v");
        } else assert.equal(r.dPast, null);
        names.forEach((n, i) => check(ctx.grads[`blk.${n}`], oracle[at + i], n));
        tf.dispose([f.y, f.kv.k, f.kv.v, ...Object.values(ctx.grads)]);
      });
    }
    tf.dispose(Object.values(local));
  },
);
