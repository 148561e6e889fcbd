import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { scaleByMomentum, sgd } from "../../lib/optim/sgd.ts";
import { disposeState } from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertTrajectory, GRADS, P0, refSgd, toTensors, trajectory } from "./_reference.ts";

testOnBackends("sgd() matches the closed form for 3 steps", async () => {
  await assertNoLeaks(() => {
    assertTrajectory(trajectory(sgd({ lr: 0.1 })), refSgd(P0, GRADS, { lr: 0.1 }));
  });
});

testOnBackends("sgd() with momentum matches the closed form for 3 steps", async () => {
  await assertNoLeaks(() => {
    const o = { lr: 0.05, momentum: 0.9 };
    assertTrajectory(trajectory(sgd(o)), refSgd(P0, GRADS, o));
  });
});

testOnBackends("sgd() with Nesterov momentum matches the closed form for 3 steps", async () => {
  await assertNoLeaks(() => {
    const o = { lr: 0.05, momentum: 0.8, nesterov: true };
    assertTrajectory(trajectory(sgd(o)), refSgd(P0, GRADS, o));
  });
});

testOnBackends("sgd() adds L2 weight decay to the gradient before momentum, skipping masked parameters", async () => {
  await assertNoLeaks(() => {
    const o = { lr: 0.05, momentum: 0.9, weightDecay: 0.1 };
    assertTrajectory(trajectory(sgd(o)), refSgd(P0, GRADS, { ...o, decayed: (name) => name === "fc.w" }));
    const all = { ...o, mask: () => true };
    assertTrajectory(trajectory(sgd(all)), refSgd(P0, GRADS, o));
  });
});

testOnBackends("sgd() state holds only the parts its options need", async () => {
  await assertNoLeaks(() => {
    const params = toTensors(P0);
    const plain = sgd({ lr: 0.1 }).init(params);
    const full = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }).init(params);
    assert.equal(plain.length, 1);
    assert.equal(full.length, 3);
    disposeState([params, plain, full]);
  });
});

testOnBackends("scaleByMomentum() accumulates a trace and returns updates that do not alias the state", async () => {
  await assertNoLeaks(() => {
    const t = scaleByMomentum({ momentum: 0.5 });
    const g = { w: tf.tensor1d([2, -2]) };
    const s0 = t.init(g);
    const r1 = t.update(g, s0);
    const r2 = t.update(g, r1.state);
    assertAllClose(r2.updates.w, [3, -3]);
    assert.notEqual(r2.updates.w, r2.state.trace.w);
    r2.updates.w.dispose();
    assertAllClose(r2.state.trace.w, [3, -3]); // still alive after the updates are disposed
    assert.equal(g.w.isDisposed, false);
    disposeState([g, s0, r1, r2]);
  });
});

Deno.test("sgd() and scaleByMomentum() throw std-style errors for bad hyperparameters", () => {
  assert.throws(() => sgd({ lr: -1 }), {
    name: "RangeError",
    message: "Cannot create sgd: 'lr' must be a positive number: current value is -1",
  });
  assert.throws(() => sgd({ lr: 0.1, momentum: 1 }), {
    name: "RangeError",
    message: "Cannot create sgd: 'momentum' must be in [0, 1): current value is 1",
  });
  assert.throws(() => sgd({ lr: 0.1, nesterov: true }), {
    name: "RangeError",
    message: "Cannot create sgd: 'nesterov' needs a positive 'momentum': current value is 0",
  });
  assert.throws(() => sgd({ lr: 0.1, momentum: 0.9, nesterov: 1 as unknown as boolean }), {
    name: "TypeError",
    message: "Cannot create sgd: 'nesterov' must be a boolean: current value is 1",
  });
  assert.throws(() => sgd({ lr: 0.1, weightDecay: -1 }), {
    name: "RangeError",
    message: "Cannot create sgd: 'weightDecay' must be a non-negative number: current value is -1",
  });
  assert.throws(() => scaleByMomentum({ momentum: -0.1 }), {
    name: "RangeError",
    message: "Cannot create scaleByMomentum: 'momentum' must be in [0, 1): current value is -0.1",
  });
  assert.throws(() => scaleByMomentum({ momentum: "0.9" as unknown as number }), {
    name: "TypeError",
    message: `Cannot create scaleByMomentum: 'momentum' must be a number: current value is "0.9"`,
  });
});
