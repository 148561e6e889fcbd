/**
 * The step-level seam: a TrainStep provides the whole update while the Trainer keeps ownership (frees exactly what
 * the step replaced), passes an explicit { step, seed } key, and reports.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { type ForwardKey, forwardLoss, type Params, type TrainStep } from "../../lib/nn/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { testOnBackends } from "../_util/backends.ts";

/** Shrinks the head's weights by 1% each step (a forward-only step); keeps every other tensor as it is. */
function shrinkHead(keys: ForwardKey[]): TrainStep<{ count: tf.Tensor }> {
  return {
    name: "shrink-head",
    init: () => ({ count: tf.scalar(0) }),
    step(model, batch, state, key) {
      keys.push(key);
      const loss = forwardLoss(model, batch, { key });
      const params: Params = { ...model.params };
      for (const k of Object.keys(params)) {
        if (k.startsWith("head.")) params[k] = tf.tidy(() => tf.mul(model.params[k], 0.99));
      }
      return { loss, params, state: { count: tf.add(state.count, 1) }, savedBytes: 0, forwardBytes: 0 };
    },
  };
}

testOnBackends("a custom TrainStep: the Trainer frees what it replaced, keeps what it reused, passes the key", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 0 });
  const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
  const keys: ForwardKey[] = [];
  const trainer = new Trainer(gpt, { step: shrinkHead(keys), seed: 42 });
  const before = tf.memory().numTensors;
  const embed = gpt.params["embed.wte"], head = gpt.params["head.out.w"];
  const r = trainer.step(batch);
  assert.ok(Number.isFinite(r.loss));
  assert.equal(gpt.params["embed.wte"], embed, "an untouched parameter is the same tensor");
  assert.ok(!embed.isDisposed);
  assert.ok(head.isDisposed, "a replaced parameter is freed");
  for (let i = 0; i < 4; i++) trainer.step(batch);
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  assert.deepEqual(keys, [0, 1, 2, 3, 4].map((step) => ({ step, seed: 42 })));
  assert.equal(trainer.state.count.dataSync()[0], 5);
  trainer.dispose();
  tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
});

testOnBackends("a failing step leaves the Trainer's parameters and state as they were", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 0 });
  const nan = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32"), weights: tf.fill([2, 8], NaN) };
  const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }) });
  const params = { ...gpt.params };
  const before = tf.memory().numTensors;
  assert.throws(() => trainer.step(nan), /Cannot take a training step: the loss is NaN/);
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  assert.equal(trainer.stepCount, 0);
  for (const [k, v] of Object.entries(params)) assert.ok(gpt.params[k] === v && !v.isDisposed, k);
  trainer.dispose();
  tf.dispose([nan.x, nan.y, nan.weights, ...Object.values(gpt.params)]);
});

Deno.test("Trainer needs exactly one of optimizer and step, and a safe-integer seed", () => {
  const model = { params: {} }; // never reached: the options are checked first
  const opts = [{}, { optimizer: adamw({ lr: 1 }), step: shrinkHead([]) }] as never[];
  for (const o of opts) assert.throws(() => new Trainer(model as never, o), /exactly one of 'optimizer'/);
  assert.throws(
    () => new Trainer(model as never, { optimizer: adamw({ lr: 1 }), seed: 0.5 }),
    (e: Error) => e instanceof RangeError && /'seed'.*current value is 0\.5/.test(e.message),
  );
});
