import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { countTask } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/data/rng.ts";
import { meter } from "../../lib/memory/meter.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import type { Context } from "../../lib/nn/context.ts";
import { SoftmaxCrossEntropy } from "../../lib/nn/cross_entropy.ts";
import type { GradSource } from "../../lib/nn/grad_source.ts";
import type { Layer } from "../../lib/nn/layer.ts";
import type { Model } from "../../lib/nn/model.ts";
import { type Grads, type Params, treeBytes } from "../../lib/nn/params.ts";
import type { PolicySelector } from "../../lib/nn/policy.ts";
import { adamw, chain, clipByGlobalNorm, type GradientTransform, sgd } from "../../lib/optim/mod.ts";
import { backprop, disposeBatch, tokenBatch, Trainer, type UpdateMode } from "../../lib/train/mod.ts";
import { predictUpdateBytes } from "../../lib/train/update_memory.ts";
import { testOnBackends } from "../_util/backends.ts";

const CFG = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 3 };
type Setup = { name: string; source: () => { source: GradSource; dispose(): void } };

const SOURCES: Setup[] = [
  { name: "plain backprop", source: () => ({ source: backprop(), dispose() {} }) },
  { name: "checkpoint sqrt", source: () => ({ source: backprop({ trunk: checkpoint("sqrt") }), dispose() {} }) },
  {
    name: "Mesa head-wise",
    source: () => {
      const m = mesa({ grouping: "head-wise" });
      return { source: backprop({ selector: m.selector }), dispose: () => m.dispose() };
    },
  },
  {
    name: "checkpoint sqrt + Mesa",
    source: () => {
      const m = mesa({ grouping: "head-wise" });
      return { source: backprop({ selector: m.selector, trunk: checkpoint("sqrt") }), dispose: () => m.dispose() };
    },
  },
];

const OPTIMIZERS: { name: string; make: () => GradientTransform<unknown> }[] = [
  { name: "AdamW", make: () => adamw({ lr: 1e-2, weightDecay: 0.1 }) as GradientTransform<unknown> },
  { name: "SGD", make: () => sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0.01 }) },
];

function values(params: Params): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(params).map(([k, t]) => [k, t.dataSync() as Float32Array]));
}

/** Trains a fresh tiny GPT for `steps` steps with `update`; returns the parameters' values after each step. */
function run(setup: Setup, opt: () => GradientTransform<unknown>, update: UpdateMode, steps: number) {
  const { source, dispose } = setup.source();
  const gpt = createGpt(CFG, { seed: 0 });
  const trainer = new Trainer(gpt, { optimizer: opt(), source, update });
  const rng = new Rng(3);
  const out: { loss: number; params: Record<string, Float32Array> }[] = [];
  for (let i = 0; i < steps; i++) {
    const b = tokenBatch(countTask(rng, { batch: 4, context: 8, vocab: 16 }), 4, 8);
    const loss = trainer.step(b).loss;
    disposeBatch(b);
    out.push({ loss, params: values(gpt.params) });
  }
  trainer.dispose();
  dispose();
  tf.dispose(Object.values(gpt.params));
  return out;
}

testOnBackends(
  "update in backward and the in-place step equal the whole-set step bit for bit: AdamW, SGD; plain, checkpoint, Mesa",
  () => {
    // Bitwise: the same ops run per element, only at another time.
    for (const setup of SOURCES) {
      for (const o of OPTIMIZERS) {
        const whole = run(setup, o.make, "whole-set", 2);
        for (const mode of ["per-param", "in-backward"] as const) {
          const got = run(setup, o.make, mode, 2);
          got.forEach((step, i) => {
            const what = `${mode} vs whole-set, ${o.name}, ${setup.name}, step ${i}`;
            assert.equal(step.loss, whole[i].loss, what);
            assert.deepEqual(Object.keys(step.params), Object.keys(whole[i].params), what);
            for (const k of Object.keys(step.params)) {
              assert.deepEqual(step.params[k], whole[i].params[k], `${what}: ${k}`);
            }
          });
        }
      }
    }
  },
);

/** A transform that records what each per-parameter update gets, around a separable base. */
function spy(base: GradientTransform<unknown>, copyGrads = true) {
  const calls: { keys: string[]; grads: Grads; aliveBefore: string[] }[] = [];
  const seen: { key: string; grad: tf.Tensor }[] = [];
  const t: GradientTransform<unknown> = {
    name: "spy",
    separable: true,
    init: (p) => base.init(p),
    update(grads, state, params, extras) {
      // Gradients handed to earlier updates that are still alive now: in-backward must have freed them all.
      const aliveBefore = seen.filter((s) => !s.grad.isDisposed).map((s) => s.key);
      for (const [key, grad] of Object.entries(grads)) seen.push({ key, grad });
      calls.push({
        keys: Object.keys(grads),
        // A copy (a clone would share the buffer and keep the gradient alive).
        grads: copyGrads ? Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.keep(tf.add(g, 0))])) : {},
        aliveBefore,
      });
      return base.update(grads, state, params, extras);
    },
  };
  return { t, calls, reset: () => seen.splice(0) };
}

testOnBackends("update in backward frees each gradient before the next parameter's update, and lowers the peak", () => {
  // Few activations (batch 1, 8 tokens), so the parameters, their state and the gradients set the step's peak.
  const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 4 };
  const peaks: Record<string, number> = {};
  const m = meter();
  for (const update of ["per-param", "in-backward"] as const) {
    const gpt = createGpt(cfg, { seed: 0 });
    const s = spy(adamw({ lr: 1e-2 }) as GradientTransform<unknown>, false);
    const trainer = new Trainer(gpt, { optimizer: s.t, source: backprop({ trunk: checkpoint("every") }), update });
    const b = tokenBatch(countTask(new Rng(0), { batch: 1, context: 8, vocab: 16 }), 1, 8);
    trainer.step(b); // warm-up (kernels, caches)
    s.calls.forEach((c) => tf.dispose(Object.values(c.grads)));
    s.calls.splice(0);
    s.reset();
    m.resetPeak();
    const before = m.live;
    trainer.step(b);
    peaks[update] = m.peak - before;
    const keys = Object.keys(gpt.params);
    assert.equal(s.calls.length, keys.length, `${update}: one optimizer update per parameter`);
    if (update === "in-backward") {
      for (const c of s.calls) {
        assert.equal(c.keys.length, 1);
        assert.deepEqual(c.aliveBefore, [], `${update}: gradients alive when '${c.keys[0]}' is updated`);
      }
      // Backward order: the head's parameters first, the embedding's last.
      assert.ok(s.calls[0].keys[0].startsWith("head."), s.calls[0].keys[0]);
      assert.ok(s.calls[s.calls.length - 1].keys[0].startsWith("embed."));
    }
    s.calls.forEach((c) => tf.dispose(Object.values(c.grads)));
    disposeBatch(b);
    trainer.dispose();
    tf.dispose(Object.values(gpt.params));
  }
  // The standard step holds the whole gradient set at the end of backward; in backward, at most one trunk layer's
  // parameters are held twice (old and new) and one layer's gradients accumulate. So the peak falls by at least the
  // gradient set minus two of the largest layer's parameter bytes.
  const gpt = createGpt(cfg, { seed: 0 });
  const gradBytes = treeBytes(gpt.params);
  const layerBytes = Math.max(
    ...gpt.layers.map((l) => l.paramSpecs().reduce((n, p) => n + 4 * p.shape.reduce((a, b) => a * b, 1), 0)),
  );
  tf.dispose(Object.values(gpt.params));
  const saved = peaks["per-param"] - peaks["in-backward"];
  assert.ok(
    saved >= gradBytes - 2 * layerBytes,
    `peak per-param ${peaks["per-param"]} B, in-backward ${peaks["in-backward"]} B: saved ${saved} B < ` +
      `${gradBytes} - 2 * ${layerBytes}`,
  );
});

testOnBackends(
  "the in-place step's peak is lower than the whole-set step's by at least one parameter set",
  (backend) => {
    const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 2 };
    const peaks: Record<string, number> = {};
    const m = meter();
    let paramBytes = 0;
    for (const update of ["whole-set", "per-param"] as const) {
      const gpt = createGpt(cfg, { seed: 0 });
      paramBytes = treeBytes(gpt.params);
      const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }), update });
      const b = tokenBatch(countTask(new Rng(0), { batch: 1, context: 8, vocab: 16 }), 1, 8);
      trainer.step(b);
      m.resetPeak();
      const before = m.live;
      trainer.step(b);
      peaks[update] = m.peak - before;
      disposeBatch(b);
      trainer.dispose();
      tf.dispose(Object.values(gpt.params));
    }
    // Above the parameters and AdamW's state, the whole-set step holds the gradients, the new moments (two sets) and the
    // updates (4 sets; the step before the in-place update also built the new parameters beside the old ones); in place,
    // the gradients and one parameter's transients. So the peak falls by more than the one parameter set the issue asks
    // for: at least 2 sets (measured 2.66 here), which also fails if the old parameters or old moments are kept.
    assert.ok(
      peaks["whole-set"] - peaks["per-param"] >= 2 * paramBytes,
      `whole-set ${peaks["whole-set"]} B, per-param ${peaks["per-param"]} B, one parameter set ${paramBytes} B`,
    );
    // The analytic count: with so few activations the whole-set update is the step's peak, and the meter sees exactly
    // the predicted (2 + 2)·P with the fused AdamW (wasm, blas); the cpu backend runs the unfused chain, which holds one
    // intermediate update set more, so there the meter sees more. The in-place step's update phase is below its
    // backward peak, so the meter sees at least it.
    const gpt = createGpt(cfg, { seed: 0 });
    const whole = predictUpdateBytes(gpt, { mode: "whole-set", stateSets: 2 }).updateBytes;
    if (backend === "cpu") assert.ok(peaks["whole-set"] >= whole);
    else assert.equal(peaks["whole-set"], whole);
    const inPlace = predictUpdateBytes(gpt, { mode: "per-param", stateSets: 2 }).updateBytes;
    assert.ok(peaks["per-param"] >= inPlace, `per-param ${peaks["per-param"]} B < predicted ${inPlace} B`);
    tf.dispose(Object.values(gpt.params));
  },
);

// --- tied parameters ----------------------------------------------------------------------------------------------

const D = 8;

/** `y = x·W` with `W` read from `owner.w` (its own by default; another layer's for a tied use). */
class MatLayer implements Layer {
  constructor(readonly name: string, readonly owner?: string, readonly transposed = false) {}
  #at(ctx: Context): Context {
    return this.owner === undefined ? ctx : ctx.withPath(this.owner);
  }
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    ctx.save("x", x, "linear.input");
    return tf.tidy(() =>
      tf.tanh(tf.matMul(x as tf.Tensor2D, this.#at(ctx).param("w") as tf.Tensor2D, false, this.transposed))
    );
  }
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    const x = ctx.load("x");
    try {
      return tf.tidy(() => {
        const w = this.#at(ctx).param("w") as tf.Tensor2D;
        const y = tf.tanh(tf.matMul(x as tf.Tensor2D, w, false, this.transposed));
        const dz = tf.mul(dy, tf.sub(1, tf.square(y))) as tf.Tensor2D; // [N, D]
        const dw = this.transposed
          ? tf.matMul(dz, x as tf.Tensor2D, true, false)
          : tf.matMul(x as tf.Tensor2D, dz, true, false);
        this.#at(ctx).accumulate("w", dw);
        return tf.matMul(dz, w, false, !this.transposed);
      });
    } finally {
      x.dispose();
    }
  }
  paramSpecs() {
    return this.owner === undefined ? [{ name: "w", shape: [D, D], init: { kind: "normal" as const, std: 0.5 } }] : [];
  }
  savedSpecs(s: readonly number[]) {
    return [{ name: "x", role: "linear.input", shape: s.slice(), dtype: "float32" as const }];
  }
  outputShape(s: readonly number[]) {
    return s.slice();
  }
}

function tiedModel(seed: number): Model {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.5);
  return {
    kind: "tied-test",
    config: {},
    // "a.w" is used by "a" (first) and, transposed, by "c" (last): its gradient is final only after a's backward.
    layers: [new MatLayer("a"), new MatLayer("b"), new MatLayer("c", "a", true)],
    loss: new SoftmaxCrossEntropy(),
    params: { "a.w": tf.tensor2d(normal(D * D), [D, D]), "b.w": tf.tensor2d(normal(D * D), [D, D]) },
    savedSpecs: () => [],
    flopsPerExample: () => 0,
  };
}

testOnBackends("tied parameters are updated once per step, with their full gradient, as the standard step does", () => {
  const rng = new Rng(5);
  const xs = Float32Array.from({ length: 6 * D }, () => rng.normal());
  const ys = Int32Array.from({ length: 6 }, (_, i) => i % D);
  const batch = { x: tf.tensor2d(xs, [6, D]), y: tf.tensor1d(ys, "int32") };
  const results: Record<string, Record<string, Float32Array>> = {};
  let standardGrad: Float32Array | undefined;
  for (const update of ["per-param", "in-backward"] as const) {
    const model = tiedModel(0);
    const s = spy(adamw({ lr: 0.05, weightDecay: 0 }) as GradientTransform<unknown>);
    const trainer = new Trainer(model, { optimizer: s.t, update });
    for (let i = 0; i < 3; i++) {
      if (i === 2 && update === "per-param") {
        const g = backprop().lossAndGrads(model, batch);
        standardGrad = g.grads["a.w"].dataSync() as Float32Array;
        tf.dispose(Object.values(g.grads));
      }
      s.calls.forEach((c) => tf.dispose(Object.values(c.grads)));
      s.calls.splice(0);
      trainer.step(batch);
      const aCalls = s.calls.filter((c) => c.keys.includes("a.w"));
      assert.equal(aCalls.length, 1, `${update}: 'a.w' updated once in step ${i}`);
      if (update === "in-backward") {
        assert.deepEqual(s.calls.map((c) => c.keys[0]), ["b.w", "a.w"], "b.w is final first; a.w waits for a");
        if (i === 2) assert.deepEqual(aCalls[0].grads["a.w"].dataSync(), standardGrad, "the full tied gradient");
      }
    }
    results[update] = values(model.params);
    s.calls.forEach((c) => tf.dispose(Object.values(c.grads)));
    trainer.dispose();
    tf.dispose(Object.values(model.params));
  }
  for (const k of ["a.w", "b.w"]) assert.deepEqual(results["in-backward"][k], results["per-param"][k], k);
  tf.dispose([batch.x, batch.y]);
});

// --- errors -------------------------------------------------------------------------------------------------------

testOnBackends(
  "update in backward refuses a global transform (naming it and the alternatives) and a non-backprop source",
  () => {
    const gpt = createGpt({ ...CFG, layers: 1 }, { seed: 0 });
    const clipped = chain(clipByGlobalNorm(1), adamw({ lr: 1e-3 }));
    assert.throws(
      () => new Trainer(gpt, { optimizer: clipped, update: "in-backward" }),
      (e: unknown) =>
        e instanceof TypeError && /'clipByGlobalNorm'/.test(e.message) && /clip per parameter/.test(e.message) &&
        /standard step/.test(e.message),
    );
    const other: GradSource = { name: "streambp", lossAndGrads: (m, b, o) => backprop().lossAndGrads(m, b, o) };
    assert.throws(
      () => new Trainer(gpt, { optimizer: adamw({ lr: 1e-3 }), source: other, update: "in-backward" }),
      (e: unknown) => e instanceof TypeError && /must be backprop/.test(e.message) && /'streambp'/.test(e.message),
    );
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => new Trainer(gpt, { optimizer: adamw({ lr: 1e-3 }), update: "later" as any }),
      /'update' must be "per-param", "whole-set" or "in-backward": current value is later/,
    );
    // The standard step falls back to the whole set for the global chain, and still trains.
    const t = new Trainer(gpt, { optimizer: clipped });
    const b = tokenBatch(countTask(new Rng(0), { batch: 2, context: 8, vocab: 16 }), 2, 8);
    assert.ok(Number.isFinite(t.step(b).loss));
    disposeBatch(b);
    t.dispose();
    tf.dispose(Object.values(gpt.params));
  },
);

testOnBackends(
  "update in backward (checkpoint sqrt + Mesa, AdamW) leaks nothing over 200 steps and learns",
  () => {
    const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 2, dim: 32 };
    const m = mesa({ grouping: "head-wise" });
    const selector: PolicySelector = m.selector;
    const gpt = createGpt(cfg, { seed: 0 });
    const trainer = new Trainer(gpt, {
      optimizer: adamw({ lr: 1e-2, weightDecay: 0 }),
      source: backprop({ selector, trunk: checkpoint("sqrt") }),
      update: "in-backward",
    });
    const rng = new Rng(1);
    const batchOf = () => tokenBatch(countTask(rng, { batch: 4, context: 8, vocab: 16 }), 4, 8);
    const warm = batchOf();
    const first = trainer.step(warm).loss;
    disposeBatch(warm);
    const tensors = tf.memory().numTensors, live = meter().live;
    let last = first;
    for (let i = 0; i < 200; i++) {
      const b = batchOf();
      last = trainer.step(b).loss;
      disposeBatch(b);
    }
    assert.equal(tf.memory().numTensors, tensors, "no tensor leaks over 200 steps");
    assert.equal(meter().live, live, "no bytes leak over 200 steps (meter)");
    assert.ok(last < 0.5 * first, `loss should fall: ${first} -> ${last}`);
    trainer.dispose();
    m.dispose();
    tf.dispose(Object.values(gpt.params));
  },
  { cpu: "200 steps take minutes on the cpu backend; wasm and blas run the same code" },
);
