import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { Grads, Params } from "../../lib/nn/params.ts";
import { scaleByAdam, scaleByLearningRate } from "../../lib/optim/adam.ts";
import {
  chain,
  disposeState,
  type EmptyState,
  type GradientTransform,
  identity,
  namedChain,
  stateBytes,
  type UpdateExtras,
} from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

/** Stateless transform computing `fn(g)` for every entry, following the ownership contract. */
function elementwise(fn: (g: tf.Tensor) => tf.Tensor): GradientTransform<EmptyState> {
  return {
    init: () => ({}),
    update(grads) {
      const updates: Grads = {};
      for (const k in grads) updates[k] = tf.keep(tf.tidy(() => fn(grads[k])));
      return { updates, state: {} };
    },
  };
}
const double = () => elementwise((g) => tf.mul(g, 2));
const addOne = () => elementwise((g) => tf.add(g, 1));

/** Records what it is called with; its state is a counter plus a tag. */
function recorder(tag: string, log: unknown[]): GradientTransform<{ tag: string; calls: number }> {
  return {
    init: () => ({ tag, calls: 0 }),
    update(grads, state, params, extras) {
      log.push({ tag, stateTag: state.tag, calls: state.calls, params: params !== undefined, extras });
      const updates: Grads = {};
      for (const k in grads) updates[k] = tf.keep(tf.clone(grads[k]));
      return { updates, state: { tag, calls: state.calls + 1 } };
    },
  };
}

/** A transform whose update always throws. */
const failing: GradientTransform<EmptyState> = {
  init: () => ({}),
  update() {
    throw new Error("boom");
  },
};

testOnBackends("chain() applies its transforms in order", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1, 2]) };
    const a = chain(double(), addOne()).update(g, [{}, {}]);
    const b = chain(addOne(), double()).update(g, [{}, {}]);
    assertAllClose(a.updates.w, [3, 5]); // 2g + 1
    assertAllClose(b.updates.w, [4, 6]); // 2(g + 1)
    disposeState([g, a, b]);
  });
});

testOnBackends("chain() keeps a tuple of child states and passes params and extras to every child", async () => {
  await assertNoLeaks(() => {
    const log: unknown[] = [];
    const opt = chain(recorder("a", log), recorder("b", log));
    const params: Params = { w: tf.zeros([1]) }, g = { w: tf.ones([1]) };
    const s0 = opt.init(params);
    assert.deepEqual(s0, [{ tag: "a", calls: 0 }, { tag: "b", calls: 0 }]);
    const extras: UpdateExtras = { loss: 1.5, step: 7 };
    const r1 = opt.update(g, s0, params, extras);
    const r2 = opt.update(g, r1.state, params, extras);
    assert.deepEqual(r2.state, [{ tag: "a", calls: 2 }, { tag: "b", calls: 2 }]);
    assert.deepEqual(log[3], { tag: "b", stateTag: "b", calls: 1, params: true, extras });
    disposeState([params, g, r1, r2]);
  });
});

testOnBackends("chain() disposes intermediate updates but never its inputs", () => {
  const g = { w: tf.tensor1d([1, 2]) }, params = { w: tf.zeros([2]) };
  const opt = chain(double(), addOne(), double(), scaleByAdam());
  const s0 = opt.init(params);
  const before = tf.memory().numTensors;
  const r = opt.update(g, s0, params);
  // New tensors: the final updates (1) and Adam's new mu and nu (2); the two intermediates are gone.
  assert.equal(tf.memory().numTensors - before, 3);
  for (const t of [g.w, params.w, s0[3].mu.w, s0[3].nu.w]) assert.equal(t.isDisposed, false);
  disposeState([g, params, s0, r]);
});

testOnBackends("chain() disposes what it made when a child throws", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1, 2]) };
    const opt = chain(double(), scaleByAdam(), failing);
    const s0 = opt.init(g);
    assert.throws(() => opt.update(g, s0), /boom/);
    assert.equal(g.w.isDisposed, false);
    disposeState([g, s0]);
  });
});

testOnBackends("chain() with no transforms returns new handles on the grads", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1, 2]) };
    const r = chain().update(g, []);
    assert.notEqual(r.updates.w, g.w);
    assertAllClose(r.updates.w, [1, 2]);
    disposeState([g, r]);
  });
});

Deno.test("chain() rejects non-transforms and a state that does not match", () => {
  assert.throws(() => chain(double(), {} as GradientTransform<unknown>), {
    name: "TypeError",
    message: "Cannot create chain: transform 1 must be a GradientTransform: current value is [object Object]",
  });
  const opt = chain(double(), addOne());
  assert.throws(() => opt.update({}, [{}] as unknown as [EmptyState, EmptyState]), {
    name: "TypeError",
    message: "Cannot update chain: 'state' must be an array of 2 child states (call init() first): " +
      "current value is an array of length 1",
  });
  assert.throws(() => opt.update({}, undefined as unknown as [EmptyState, EmptyState]), {
    name: "TypeError",
    message: /current value is undefined/,
  });
});

testOnBackends("namedChain() keys child states by name and matches chain()", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([0.5, -1]) };
    const named = namedChain({ adam: scaleByAdam(), lr: scaleByLearningRate(0.1) });
    const plain = chain(scaleByAdam(), scaleByLearningRate(0.1));
    const sn = named.init(g), sp = plain.init(g);
    assert.deepEqual(Object.keys(sn), ["adam", "lr"]);
    const rn = named.update(g, sn), rp = plain.update(g, sp);
    assert.equal(rn.state.adam.count, 1);
    assert.equal(rn.state.lr.count, 1);
    assertAllClose(rn.updates.w, rp.updates.w);
    assert.throws(() => named.update(g, { adam: sn.adam } as typeof sn), {
      name: "TypeError",
      message: /'state' has no entry for 'lr'/,
    });
    disposeState([g, sn, sp, rn, rp]);
  });
});

testOnBackends("identity() returns new handles with the same values", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1, 2]) };
    const t = identity();
    const r = t.update(g, t.init(g));
    assert.notEqual(r.updates.w, g.w);
    g.w.dispose();
    assertAllClose(r.updates.w, [1, 2]); // survives disposal of the grads
    disposeState(r);
  });
});

testOnBackends("identity() updates survive a surrounding tf.tidy (update results are kept)", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([1, 2]) };
    let updates: Grads = {};
    tf.tidy(() => {
      updates = identity().update(g, {}).updates;
    });
    assert.equal(updates.w.isDisposed, false);
    disposeState([g, updates]);
  });
});

testOnBackends("disposeState() disposes every tensor of nested objects and arrays, cycles included", async () => {
  await assertNoLeaks(() => {
    const a = tf.zeros([2]), b = tf.ones([3]);
    const cyclic: Record<string, unknown> = { n: 1, list: [a, { deep: [b] }], data: new Float32Array(2) };
    cyclic.self = cyclic;
    disposeState(cyclic);
    assert.ok(a.isDisposed && b.isDisposed);
    disposeState(undefined);
    disposeState(3);
  });
});

testOnBackends("stateBytes() counts each buffer once", async () => {
  await assertNoLeaks(() => {
    const a = tf.zeros([10]);
    const clone = tf.clone(a), flags = tf.zeros([2], "bool");
    assert.equal(stateBytes([{ a }, { clone, n: 3 }, flags]), 40 + 2);
    disposeState([a, clone, flags]);
  });
});
