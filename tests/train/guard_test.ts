import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { charCorpusFromText } from "../../lib/data/mod.ts";
import { createGpt } from "../../lib/models/mod.ts";
import type { GradSource, TrainStep } from "../../lib/nn/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { backprop, disposeBatch, NonFiniteError, runLm, Trainer } from "../../lib/train/mod.ts";
import { listCheckpoints } from "../../lib/train/train_loop.ts";
import { batchAt, CFG, paramBytes } from "./_resume.ts";

const BAD = "blocks.1.mlp.fc1.w";

/** Backprop whose gradient of BAD gets a NaN at the given steps. */
function poisoned(steps: number[]): GradSource {
  const inner = backprop();
  return {
    name: "poisoned",
    lossAndGrads(model, batch, options) {
      const out = inner.lossAndGrads(model, batch, options);
      if (steps.includes(options?.key?.step ?? -1)) {
        const g = out.grads[BAD];
        out.grads[BAD] = tf.keep(tf.tidy(() => tf.where(tf.equal(tf.range(0, g.size).reshape(g.shape), 3), NaN, g)));
        g.dispose();
      }
      return out;
    },
  };
}

function once(t: Trainer<unknown>, i: number): void {
  const b = batchAt(i);
  t.step(b);
  disposeBatch(b);
}

function stateBytes(t: Trainer<unknown>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (x: unknown): void => {
    if (x instanceof tf.Tensor) out.push(new Uint8Array(Float32Array.from(x.dataSync()).buffer));
    else if (x && typeof x === "object") Object.values(x).forEach(walk);
  };
  walk(t.state);
  return out;
}

Deno.test("guard: a NaN gradient stops the step with a NonFiniteError naming the step and parameter; nothing changes", () => {
  const model = createGpt(CFG, { seed: 0 });
  const t = new Trainer(model, { optimizer: adamw({ lr: 1e-2 }), source: poisoned([2]) });
  for (let i = 0; i < 2; i++) once(t, i);
  const params = paramBytes(model), state = stateBytes(t), tensors = tf.memory().numTensors;
  const b = batchAt(2);
  assert.throws(() => t.step(b), (e) => {
    assert.ok(e instanceof NonFiniteError && e instanceof RangeError);
    assert.equal(e.message, `Training stopped at step 2: the gradient of '${BAD}' is not finite`);
    assert.deepEqual([e.step, e.kind, e.subject], [2, "gradient", BAD]);
    return true;
  });
  disposeBatch(b);
  assert.deepStrictEqual(paramBytes(model), params);
  assert.deepStrictEqual(stateBytes(t), state);
  assert.equal(t.stepCount, 2);
  assert.equal(tf.memory().numTensors, tensors, "the gradients were freed");
  t.dispose();
  tf.dispose(Object.values(model.params));
});

Deno.test("guard: skipNonFinite skips the NaN steps (parameters and state unchanged) and counts them", () => {
  const model = createGpt(CFG, { seed: 0 });
  const t = new Trainer(model, { optimizer: adamw({ lr: 1e-2 }), source: poisoned([1, 3]), skipNonFinite: true });
  const results = [];
  for (let i = 0; i < 5; i++) {
    const params = paramBytes(model), state = stateBytes(t);
    const b = batchAt(i);
    const r = t.step(b);
    disposeBatch(b);
    results.push(r.skipped === true);
    if (r.skipped) {
      assert.ok(Number.isNaN(r.loss));
      assert.deepStrictEqual(paramBytes(model), params, `step ${i}: parameters unchanged`);
      assert.deepStrictEqual(stateBytes(t), state, `step ${i}: optimizer state unchanged`);
    } else assert.notDeepStrictEqual(paramBytes(model), params);
  }
  assert.deepEqual(results, [false, true, false, true, false]);
  assert.equal(t.skippedSteps, 2);
  assert.equal(t.stepCount, 5);
  t.dispose();
  tf.dispose(Object.values(model.params));
});

Deno.test("guard: a NaN parameter makes the loss NaN, and the error names that parameter", () => {
  for (const update of ["per-param", "in-backward"] as const) {
    const model = createGpt(CFG, { seed: 0 });
    const t = new Trainer(model, { optimizer: adamw({ lr: 1e-2 }), update });
    const old = model.params["blocks.0.ln1.g"];
    model.params["blocks.0.ln1.g"] = tf.keep(tf.fill(old.shape, NaN));
    old.dispose();
    const b = batchAt(0);
    assert.throws(
      () => t.step(b),
      (e) => e instanceof NonFiniteError && e.kind === "parameter" && e.subject === "blocks.0.ln1.g" && e.step === 0,
      update,
    );
    disposeBatch(b);
    assert.throws(() => t.save(Deno.makeTempFileSync()), /no checkpoint written/);
    t.dispose();
    tf.dispose(Object.values(model.params));
  }
});

Deno.test("guard: a whole step that makes a parameter NaN is caught after it, or skipped and rolled back", () => {
  const step: TrainStep<{ n: number }> = {
    name: "bad-at-1",
    init: () => ({ n: 0 }),
    step(model, _batch, state, key) {
      const params = { ...model.params };
      const w = model.params["head.out.w"];
      params["head.out.w"] = tf.keep(tf.mul(w, key.step === 1 ? NaN : 1));
      return { loss: 1, params, state: { n: state.n + 1 }, savedBytes: 0, forwardBytes: 0 };
    },
  };
  for (const skipNonFinite of [false, true]) {
    const model = createGpt(CFG, { seed: 0 });
    const t = new Trainer(model, { step, skipNonFinite });
    once(t, 0);
    const params = paramBytes(model);
    const b = batchAt(1);
    if (!skipNonFinite) {
      assert.throws(() => t.step(b), (e) => e instanceof NonFiniteError && e.kind === "parameter" && e.step === 1);
    } else {
      assert.equal(t.step(b).skipped, true);
      assert.deepStrictEqual(paramBytes(model), params);
      assert.deepEqual(t.state, { n: 1 });
    }
    disposeBatch(b);
    t.dispose();
    tf.dispose(Object.values(model.params));
  }
});

Deno.test("guard in runLm: a NaN at step 5 stops the run and keeps the step-4 checkpoint; skipNonFinite counts", () => {
  const corpus = charCorpusFromText("abcdefgh ".repeat(40));
  const dir = Deno.makeTempDirSync();
  const opts = (skipNonFinite: boolean) => ({
    model: createGpt({ ...CFG, vocab: corpus.vocabSize }, { seed: 0 }),
    optimizer: adamw({ lr: 1e-2 }),
    source: poisoned([4]),
    data: corpus,
    steps: 6,
    batch: 2,
    context: 16,
    evalBatches: 1,
    skipNonFinite,
  });
  try {
    const a = opts(false);
    assert.throws(() => runLm({ ...a, checkpoint: { dir, every: 2, resume: false } }), /step 4: the gradient of/);
    assert.deepEqual(listCheckpoints(dir), [2, 4], "no checkpoint after the bad step");
    tf.dispose(Object.values(a.model.params));
    const check = new Trainer(createGpt({ ...CFG, vocab: corpus.vocabSize }, { seed: 1 }), {
      optimizer: adamw({ lr: 1e-2 }),
    });
    check.restore(`${dir}/step-00000004.safetensors`);
    assert.equal(check.stepCount, 4);
    check.dispose();
    tf.dispose(Object.values(check.model.params));
    const b = opts(true);
    const r = runLm(b);
    assert.equal(r.skipped, 1);
    assert.ok(Number.isNaN(r.losses[4]) && Number.isFinite(r.trainLoss));
    tf.dispose(Object.values(b.model.params));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
