import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedActive, initBackend } from "../../../lib/backend/mod.ts";
import { NN_KERNELS as FUSED_KERNELS } from "../../../lib/nn/kernels/mod.ts";
import { createGpt } from "../../../lib/models/mod.ts";
import { Context, SavedStore } from "../../../lib/nn/context.ts";
import type { SavedInfo } from "../../../lib/nn/policy.ts";
import { keepPolicy } from "../../../lib/nn/policy.ts";
import { Sequence } from "../../../lib/nn/sequence.ts";
import * as F from "../../../lib/nn/_fused.ts";
import { backprop } from "../../../lib/train/mod.ts";
import { assertNoLeaks, maxRelError } from "../../_util/assert_close.ts";
import { needsBlas, testOnBackends } from "../../_util/backends.ts";
import {
  type Implementation,
  testOnImplementations,
  withImplementation,
  withImplementationAsync,
} from "../../_util/implementations.ts";

/** Runs `f` with the fused implementation `impl` and with the stock ops; returns both results as plain arrays. */
function bothWays(impl: Implementation, f: () => tf.Tensor | tf.Tensor[]) {
  const run = (which: Implementation) =>
    withImplementation(which, () => {
      const out = f();
      const list = Array.isArray(out) ? out : [out];
      const arrays = list.map((t) => Float32Array.from(t.dataSync() as Float32Array));
      tf.dispose(list);
      return arrays;
    });
  return { fused: run(impl), stock: run("stock") };
}

function assertSame(impl: Implementation, name: string, f: () => tf.Tensor | tf.Tensor[], tol = 1e-5): void {
  const { fused, stock } = bothWays(impl, f);
  assert.equal(fused.length, stock.length, `${name}: number of outputs`);
  fused.forEach((a, i) => {
    const err = maxRelError(a, stock[i]);
    assert.ok(err <= tol, `${name} output ${i}: fused vs stock max relative error ${err.toExponential(2)} > ${tol}`);
  });
}

const rnd = (shape: number[], seed: number, std = 1) => tf.randomNormal(shape, 0, std, "float32", seed);

testOnImplementations("fused: every fused op equals its stock tfjs ops", async (_backend, impl) => {
  await assertNoLeaks(() => tf.tidy(() => checkAllOps(impl)));
}, { impls: ["fused-js", "simd"] });

/** Shapes cover the vector loops (sizes and rows that are multiples of 4) and the scalar tails / JS rows. */
function checkAllOps(impl: Implementation): void {
  for (const shape of [[6, 5, 40], [7, 9]]) {
    const x = rnd(shape, 1, 2), dy = rnd(shape, 2);
    assertSame(impl, `gelu [${shape}]`, () => F.gelu(x));
    assertSame(impl, `geluGrad [${shape}]`, () => F.geluGrad(x.reshape([-1, shape[shape.length - 1]]), dy));
    const big = tf.mul(x, 30); // saturated tails: gelu(x) ~ x or ~ 0
    assertSame(impl, `gelu saturated [${shape}]`, () => F.gelu(big));
    assertSame(impl, `geluGrad saturated [${shape}]`, () => F.geluGrad(big, dy));
  }
  for (const d of [24, 18]) {
    const x2 = rnd([30, d], 3, 3).add(0.5), g = rnd([d], 4).add(1), b = rnd([d], 5), dy2 = rnd([30, d], 6);
    assertSame(impl, `layerNorm D=${d}`, () => {
      const r = F.layerNorm(x2, g, b, 1e-5);
      return [r.y, r.mean, r.rstd];
    });
    const { mean, rstd } = F.layerNorm(x2, g, b, 1e-5);
    assertSame(impl, `layerNormGrad D=${d}`, () => {
      const r = F.layerNormGrad(dy2, x2, mean, rstd, g);
      return [r.dx, r.dg, r.db];
    });
  }
  for (const t of [8, 7]) {
    const scores = rnd([6, t, t], 7, 3);
    for (const causal of [true, false]) {
      assertSame(impl, `attentionProbs T=${t} causal=${causal}`, () => F.attentionProbs(scores, 0.35, causal));
    }
    const p = tf.softmax(scores), dp = rnd([6, t, t], 8);
    assertSame(impl, `softmaxGrad T=${t}`, () => F.softmaxGrad(p, dp, 0.35));
  }
  const qkv = rnd([2, 7, 3 * 12], 9);
  assertSame(impl, "splitHeads x3", () => F.splitHeads(qkv, 4, 3));
  assertSame(impl, "splitHeads x1", () => F.splitHeads(qkv, 3, 1));
  const heads = [rnd([2, 4, 7, 3], 10), rnd([8, 7, 3], 11), rnd([2, 4, 7, 3], 12)];
  assertSame(impl, "mergeHeads x3", () => F.mergeHeads(heads, 2, 4));
  assertSame(impl, "mergeHeads x1", () => F.mergeHeads([heads[1]], 2, 4));
  const x2 = rnd([30, 24], 3, 3);
  const w = rnd([24, 9], 13), bias = rnd([9], 14);
  assertSame(impl, "linear", () => F.linear(x2 as tf.Tensor2D, w as tf.Tensor2D, bias));
  assertSame(impl, "linear without bias", () => F.linear(x2 as tf.Tensor2D, w as tf.Tensor2D));
  assertSame(impl, "columnSum", () => F.columnSum(x2));
  const wte = rnd([11, 6], 15), wpe = rnd([8, 6], 16);
  const ids = tf.tensor1d([1, 2, 3, 1, 10, 0, 0, 5, 2, 7], "int32");
  assertSame(impl, "embed", () => F.embed(wte, wpe, ids, 5));
  const z = rnd([10, 11], 17, 4);
  const zBig = tf.concat([z, tf.oneHot([3], 11).mul(120)]); // a row with p(target) ~ 1e-52: the exact path
  const t = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0], "int32");
  assertSame(impl, "softmaxXent", () => {
    const r = F.softmaxXent(zBig, t);
    return [r.probs, r.nll];
  });
  const probs = tf.softmax(zBig);
  assertSame(impl, "softmaxXentGrad", () => F.softmaxXentGrad(probs, t, 1));
  assertSame(impl, "softmaxXentGrad dloss=0.5", () => F.softmaxXentGrad(probs, t, 0.5));
}

/** Runs a tiny GPT's backprop with `impl` and returns its loss, gradients (as arrays) and saved-tensor report. */
function gptStep(impl: Implementation) {
  return withImplementation(impl, () => gptStepNow());
}

function gptStepNow() {
  const gpt = createGpt({ vocab: 24, context: 16, dim: 32, layers: 2, heads: 4, mlpRatio: 4 }, { seed: 5 });
  const x = tf.tensor2d(Array.from({ length: 3 * 16 }, (_, i) => (i * 7) % 24), [3, 16], "int32");
  const y = tf.tensor2d(Array.from({ length: 3 * 16 }, (_, i) => (i * 5 + 2) % 24), [3, 16], "int32");
  try {
    const { loss, grads } = backprop().lossAndGrads(gpt, { x, y });
    const arrays = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync())]));
    tf.dispose(Object.values(grads));
    // What forward saves, with the info every ctx.save passed (tag, role, groupAxis) and the tensor's shape/dtype.
    const infos: SavedInfo[] = [];
    const store = new SavedStore();
    const ctx = new Context({ params: gpt.params, store, selector: (info) => (infos.push(info), keepPolicy) });
    const logits = new Sequence("", gpt.layers.slice()).forward(x, ctx);
    gpt.loss.forward(logits, y, ctx.child("loss")).dispose();
    logits.dispose();
    const saved = store.report().map((r, i) => ({ ...r, groupAxis: infos[i].groupAxis }));
    store.dispose();
    return { loss, grads: arrays, saved };
  } finally {
    tf.dispose([x, y, ...Object.values(gpt.params)]);
  }
}

testOnImplementations("fused: a GPT step gives the stock loss, gradients and saved tensors", async (_backend, impl) => {
  await assertNoLeaks(() => {
    const fused = gptStep(impl), stock = gptStep("stock");
    assert.ok(Math.abs(fused.loss - stock.loss) <= 1e-5 * Math.abs(stock.loss), `loss ${fused.loss} vs ${stock.loss}`);
    assert.deepEqual(Object.keys(fused.grads).sort(), Object.keys(stock.grads).sort());
    for (const k of Object.keys(stock.grads)) {
      const err = maxRelError(fused.grads[k], stock.grads[k]);
      assert.ok(err <= 1e-5, `grad ${k}: max relative error ${err.toExponential(2)}`);
    }
    assert.deepEqual(fused.saved, stock.saved, "ctx.save calls (tag, role, shape, dtype, groupAxis) must not change");
  });
}, { impls: ["fused-js", "simd"] });

testOnBackends("fused: the kernels run on wasm/blas only, and never while a gradient tape records", async (backend) => {
  const onWasm = backend === "wasm" || backend === "blas";
  assert.equal(fusedActive("nn"), onWasm);
  const x = rnd([4, 8], 1);
  const names = async (f: () => unknown) => (await tf.profile(() => void f())).kernels.map((k) => k.name);
  assert.equal((await names(() => F.gelu(x).dispose())).includes(FUSED_KERNELS.gelu), onWasm);
  const taped = await names(() => tf.grads((a: tf.Tensor) => F.gelu(a).sum())([x]).forEach((g) => g.dispose()));
  assert.ok(!taped.includes(FUSED_KERNELS.gelu), "under tf.grads the stock (differentiable) ops must run");
  assert.ok(taped.includes("Tanh"));
  const stock = await withImplementationAsync("stock", () => names(() => F.gelu(x).dispose()));
  assert.ok(!stock.includes(FUSED_KERNELS.gelu) && stock.includes("Tanh"), "the stock selection runs the stock ops");
  x.dispose();
});

Deno.test({
  ...needsBlas("fused: a GPT step on blas equals the same step on wasm (and on cpu with stock ops)"),
  async fn() {
    const results: Record<string, ReturnType<typeof gptStep>> = {};
    for (const backend of ["wasm", "blas", "cpu"] as const) {
      await initBackend({ backend });
      results[backend] = gptStep(backend === "cpu" ? "stock" : "simd");
    }
    for (const other of ["blas", "cpu"]) {
      const a = results[other], b = results.wasm;
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(b.loss), `${other} loss ${a.loss} vs wasm ${b.loss}`);
      for (const k of Object.keys(b.grads)) {
        const err = maxRelError(a.grads[k], b.grads[k]);
        assert.ok(err <= 1e-5, `${other} vs wasm, grad ${k}: max relative error ${err.toExponential(2)}`);
      }
    }
  },
});
