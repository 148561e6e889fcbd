/**
 * One battery run over every optimizer recipe (optax `_common_test.py`): convergence on a quadratic, no leaks over 20
 * steps, a state whose structure does not change, and inputs left alone. A new transform joins with one entry.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../lib/nn/params.ts";
import { adam, adamw, scaleByLearningRate } from "../../lib/optim/adam.ts";
import { applyUpdates } from "../../lib/optim/apply.ts";
import { clipByGlobalNorm } from "../../lib/optim/clip.ts";
import { warmupCosineSchedule } from "../../lib/optim/schedule.ts";
import { scaleByMomentum, sgd } from "../../lib/optim/sgd.ts";
import { chain, disposeState, type GradientTransform, namedChain } from "../../lib/optim/transform.ts";
import { testOnBackends } from "../_util/backends.ts";
import { GRADS, P0, QUADRATIC, runSteps, SHAPES, toTensors } from "./_reference.ts";

const STEPS = 200;
const annealed = (peak: number) => warmupCosineSchedule({ peak, warmupSteps: 5, totalSteps: STEPS, init: peak / 10 });

const BATTERY: { name: string; make: () => GradientTransform<unknown> }[] = [
  { name: "sgd()", make: () => sgd({ lr: 0.3 }) },
  { name: "sgd() with momentum and weight decay", make: () => sgd({ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }) },
  { name: "sgd() with Nesterov momentum", make: () => sgd({ lr: 0.05, momentum: 0.9, nesterov: true }) },
  { name: "adam() with a schedule", make: () => adam({ lr: annealed(0.3) }) },
  { name: "adamw()", make: () => adamw({ lr: annealed(0.3), weightDecay: 1e-4 }) },
  { name: "chain(clipByGlobalNorm, adamw)", make: () => chain(clipByGlobalNorm(1), adamw({ lr: annealed(0.3) })) },
  {
    name: "namedChain(clip, momentum, lr)",
    make: () =>
      namedChain({
        clip: clipByGlobalNorm(2),
        momentum: scaleByMomentum({ momentum: 0.5 }),
        lr: scaleByLearningRate(0.2),
      }),
  },
];

/** A printable structure of a state tree: tensors become "shape:dtype", numbers "number". */
function structure(x: unknown): unknown {
  if (x instanceof tf.Tensor) return `[${x.shape}]:${x.dtype}`;
  if (Array.isArray(x)) return x.map(structure);
  if (x !== null && typeof x === "object") {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, structure(v)]));
  }
  return typeof x;
}

for (const { name, make } of BATTERY) {
  testOnBackends(`${name} cuts a quadratic's loss by 100x in ${STEPS} steps`, () => {
    const start = toTensors(P0);
    const loss0 = QUADRATIC.loss(start);
    const end = runSteps(make(), start, STEPS, (p) => QUADRATIC.grads(p));
    const loss = QUADRATIC.loss(end);
    disposeTree(end);
    assert.ok(loss < loss0 / 100, `loss ${loss0} -> ${loss}`);
  });

  testOnBackends(`${name} leaks no tensors over 20 steps`, () => {
    const before = tf.memory().numTensors;
    const opt = make();
    let params = toTensors(P0);
    let state = opt.init(params);
    let steady = -1;
    for (let i = 0; i < 20; i++) {
      const grads = QUADRATIC.grads(params);
      const r = opt.update(grads, state, params, { step: i });
      disposeTree(grads);
      disposeState(state);
      state = r.state;
      params = applyUpdates(params, r.updates);
      if (i === 0) steady = tf.memory().numTensors;
      else assert.equal(tf.memory().numTensors, steady, `live tensors changed at step ${i + 1}`);
    }
    disposeState([params, state]);
    assert.equal(tf.memory().numTensors, before);
  });

  testOnBackends(`${name} keeps the structure of its state and leaves its inputs alone`, () => {
    const before = tf.memory().numTensors;
    const opt = make();
    const params = toTensors(P0), grads = toTensors(GRADS[0]);
    const s0 = opt.init(params);
    const r1 = opt.update(grads, s0, params);
    const r2 = opt.update(grads, r1.state, params);
    assert.deepEqual(structure(r2.state), structure(s0));
    for (const k in SHAPES) {
      assert.deepEqual(r2.updates[k].shape, SHAPES[k]);
      assert.equal(r2.updates[k].dtype, "float32");
      assert.equal(params[k].isDisposed || grads[k].isDisposed, false);
    }
    disposeState([params, grads, s0, r1, r2]);
    assert.equal(tf.memory().numTensors, before);
  });
}
