import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../lib/nn/params.ts";
import {
  adam,
  adamw,
  addDecayedWeights,
  defaultDecayMask,
  scaleByAdam,
  scaleByLearningRate,
} from "../../lib/optim/adam.ts";
import { warmupCosineSchedule } from "../../lib/optim/schedule.ts";
import { disposeState } from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertTrajectory, GRADS, P0, refAdamw, toRef, toTensors, trajectory } from "./_reference.ts";

const decayedByDefault = (name: string) => name === "fc.w";

testOnBackends("adamw() matches the closed form for 3 steps", async () => {
  await assertNoLeaks(() => {
    const actual = trajectory(adamw({ lr: 0.01, weightDecay: 0.1 }));
    const expected = refAdamw(P0, GRADS, { lr: 0.01, weightDecay: 0.1, decayed: decayedByDefault });
    assertTrajectory(actual, expected);
  });
});

testOnBackends("adamw() matches the closed form with custom b1, b2, eps, mask and a schedule", async () => {
  await assertNoLeaks(() => {
    const lr = warmupCosineSchedule({ peak: 0.05, warmupSteps: 1, totalSteps: 4, init: 0.01 });
    const o = { lr, b1: 0.8, b2: 0.99, eps: 1e-3, weightDecay: 0.2 };
    const actual = trajectory(adamw({ ...o, mask: (name) => name === "fc.b" }));
    const expected = refAdamw(P0, GRADS, { ...o, decayed: (name) => name === "fc.b" });
    assertTrajectory(actual, expected);
  });
});

testOnBackends("adam() matches the closed form for 3 steps (no weight decay)", async () => {
  await assertNoLeaks(() => {
    assertTrajectory(trajectory(adam({ lr: 0.1 })), refAdamw(P0, GRADS, { lr: 0.1 }));
  });
});

testOnBackends("scaleByAdam() gives bias-corrected moments and counts updates", async () => {
  await assertNoLeaks(() => {
    const t = scaleByAdam({ b1: 0.5, b2: 0.75, eps: 0 });
    const g = { w: tf.tensor1d([2, -4]) };
    const s0 = t.init(g);
    const r = t.update(g, s0);
    // mu = 0.5 g, nu = 0.25 g^2; corrected: g and g^2, so the update is sign(g).
    assertAllClose(r.updates.w, [1, -1]);
    assertAllClose(r.state.mu.w, [1, -2]);
    assertAllClose(r.state.nu.w, [1, 4]);
    assert.equal(r.state.count, 1);
    disposeState([g, s0, r]);
  });
});

testOnBackends("scaleByAdam() does not dispose its inputs", async () => {
  await assertNoLeaks(() => {
    const t = scaleByAdam();
    const params = toTensors(P0), grads = toTensors(GRADS[0]);
    const s0 = t.init(params);
    const r = t.update(grads, s0, params);
    for (const x of [...Object.values(params), ...Object.values(grads), ...Object.values(s0.mu)]) {
      assert.equal(x.isDisposed, false);
    }
    disposeState([params, grads, s0, r]);
  });
});

testOnBackends("scaleByAdam() rejects a state for other parameters without leaking", async () => {
  await assertNoLeaks(() => {
    const t = scaleByAdam();
    const other = { a: tf.zeros([1]) };
    const s0 = t.init(other);
    const grads = toTensors(GRADS[0]);
    assert.throws(() => t.update(grads, s0), { name: "TypeError", message: /'state.mu' has no entry for 'fc.w'/ });
    disposeState([other, s0, grads]);
  });
});

testOnBackends("addDecayedWeights() adds weightDecay * param only where the mask says", async () => {
  await assertNoLeaks(() => {
    const params = toTensors(P0), grads = toTensors(GRADS[0]);
    const r = addDecayedWeights({ weightDecay: 0.5 }).update(grads, {}, params);
    const g = GRADS[0];
    assertAllClose(r.updates["fc.w"], g["fc.w"].map((x, i) => x + 0.5 * P0["fc.w"][i]));
    assertAllClose(r.updates["fc.b"], g["fc.b"]);
    const all = addDecayedWeights({ weightDecay: 0.5, mask: () => true }).update(grads, {}, params);
    assertAllClose(all.updates["fc.b"], g["fc.b"].map((x, i) => x + 0.5 * P0["fc.b"][i]));
    disposeState([params, grads, r, all]);
  });
});

testOnBackends("addDecayedWeights() throws a TypeError when params are missing", async () => {
  await assertNoLeaks(() => {
    const grads = toTensors(GRADS[0]);
    assert.throws(() => addDecayedWeights({ weightDecay: 0.1 }).update(grads, {}), {
      name: "TypeError",
      message: "Cannot update addDecayedWeights: 'params' is required: current value is undefined",
    });
    disposeTree(grads);
  });
});

Deno.test("defaultDecayMask() skips biases, norms and 0-D/1-D parameters", () => {
  const matrix = tf.zeros([2, 2]), vector = tf.zeros([2]);
  try {
    assert.equal(defaultDecayMask("blocks.0.mlp.fc1.w", matrix), true);
    assert.equal(defaultDecayMask("tok_emb", matrix), true);
    assert.equal(defaultDecayMask("blocks.0.mlp.fc1.b", matrix), false);
    assert.equal(defaultDecayMask("head.bias", matrix), false);
    assert.equal(defaultDecayMask("blocks.0.ln1.g", matrix), false);
    assert.equal(defaultDecayMask("final_LayerNorm.gamma", matrix), false);
    assert.equal(defaultDecayMask("blocks.0.mlp.fc1.w", vector), false);
    assert.equal(defaultDecayMask("fc.w"), true);
  } finally {
    tf.dispose([matrix, vector]);
  }
});

testOnBackends("scaleByLearningRate() multiplies by -lr(count) and counts updates", async () => {
  await assertNoLeaks(() => {
    const seen: number[] = [];
    const t = scaleByLearningRate((step) => (seen.push(step), 0.5 / (step + 1)));
    const g = { w: tf.tensor1d([2, -4]) };
    const s0 = t.init(g);
    const r1 = t.update(g, s0);
    const r2 = t.update(g, r1.state);
    assertAllClose(r1.updates.w, [-1, 2]);
    assertAllClose(r2.updates.w, [-0.5, 1]);
    assert.deepEqual(seen, [0, 1]);
    assert.equal(r2.state.count, 2);
    disposeState([g, r1, r2]);
  });
});

testOnBackends("scaleByLearningRate() throws a RangeError when the schedule returns NaN", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1]) };
    assert.throws(() => scaleByLearningRate(() => NaN).update(g, { count: 3 }), {
      name: "RangeError",
      message: "Cannot update scaleByLearningRate: the schedule must return a non-negative number: " +
        "current value is NaN at step 3",
    });
    g.w.dispose();
  });
});

Deno.test("adamw() throws std-style errors for bad hyperparameters", () => {
  assert.throws(() => adamw({ lr: -1 }), {
    name: "RangeError",
    message: "Cannot create adamw: 'lr' must be a positive number: current value is -1",
  });
  assert.throws(() => adamw({ lr: 0 }), { name: "RangeError", message: /'lr' must be a positive number/ });
  assert.throws(() => adamw({ lr: NaN }), { name: "RangeError", message: /current value is NaN/ });
  assert.throws(() => adamw({ lr: 1e-3, b1: 1 }), {
    name: "RangeError",
    message: "Cannot create adamw: 'b1' must be in [0, 1): current value is 1",
  });
  assert.throws(() => adamw({ lr: 1e-3, b2: -0.1 }), { name: "RangeError", message: /'b2' must be in \[0, 1\)/ });
  assert.throws(() => adamw({ lr: 1e-3, eps: -1 }), {
    name: "RangeError",
    message: "Cannot create adamw: 'eps' must be a non-negative number: current value is -1",
  });
  assert.throws(() => adamw({ lr: 1e-3, weightDecay: -0.1 }), {
    name: "RangeError",
    message: "Cannot create adamw: 'weightDecay' must be a non-negative number: current value is -0.1",
  });
  assert.throws(() => adamw({ lr: "0.1" as unknown as number }), {
    name: "TypeError",
    message: `Cannot create adamw: 'lr' must be a number or a schedule function: current value is "0.1"`,
  });
  assert.throws(() => adamw({ lr: 1e-3, mask: "fc" as unknown as () => boolean }), {
    name: "TypeError",
    message: `Cannot create adamw: 'mask' must be a function: current value is "fc"`,
  });
  assert.throws(() => adamw(undefined as unknown as { lr: number }), { name: "TypeError", message: /'lr'/ });
});

Deno.test("scaleByAdam(), adam(), addDecayedWeights() and scaleByLearningRate() validate at construction", () => {
  assert.throws(() => scaleByAdam({ b1: 1.5 }), {
    name: "RangeError",
    message: "Cannot create scaleByAdam: 'b1' must be in [0, 1): current value is 1.5",
  });
  assert.throws(() => adam({ lr: Infinity }), {
    name: "RangeError",
    message: "Cannot create adam: 'lr' must be a positive number: current value is Infinity",
  });
  assert.throws(() => addDecayedWeights({ weightDecay: -1 }), {
    name: "RangeError",
    message: "Cannot create addDecayedWeights: 'weightDecay' must be a non-negative number: current value is -1",
  });
  assert.throws(() => scaleByLearningRate(-0.5), {
    name: "RangeError",
    message: "Cannot create scaleByLearningRate: 'lr' must be a positive number: current value is -0.5",
  });
});

testOnBackends("adamw() state after a step holds exactly Adam's two moments and the counts", async () => {
  await assertNoLeaks(() => {
    const opt = adamw({ lr: 1e-3 });
    const params = toTensors(P0), grads = toTensors(GRADS[0]);
    const s0 = opt.init(params);
    const r = opt.update(grads, s0, params);
    assert.equal(r.state[0].count, 1);
    assert.equal(r.state[2].count, 1);
    assert.deepEqual(Object.keys(r.state[0].mu).sort(), ["fc.b", "fc.w"]);
    assert.deepEqual(toRef(r.state[0].mu)["fc.b"].map((x) => Math.round(x * 1e4)), [100, -300, 250]);
    disposeState([params, grads, s0, r]);
  });
});

testOnBackends("scaleByAdam() and scaleByLearningRate() reject a state that did not come from init()", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1]) };
    assert.throws(() => scaleByLearningRate(0.1).update(g, undefined as unknown as { count: number }), {
      name: "TypeError",
      message: "Cannot update scaleByLearningRate: 'state' must hold a numeric 'count' (call init() first): " +
        "current value is undefined",
    });
    assert.throws(() => scaleByAdam().update(g, {} as ReturnType<ReturnType<typeof scaleByAdam>["init"]>), {
      name: "TypeError",
      message: /Cannot update scaleByAdam: 'state' must hold a numeric 'count'/,
    });
    g.w.dispose();
  });
});
