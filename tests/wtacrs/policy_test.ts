import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { mesaPolicy } from "../../lib/mesa/mod.ts";
import type { SavedInfo } from "../../lib/nn/mod.ts";
import { GradNormCache, wtacrs, wtacrsPolicy } from "../../lib/wtacrs/mod.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { exact, heavyTailed } from "./_mc.ts";

const info = (step: number, extra: Partial<SavedInfo> = {}): SavedInfo => ({
  tag: "blocks.0.mlp.fc1.input",
  role: "linear.input",
  groupAxis: 1,
  step,
  seed: 0,
  ...extra,
});

testOnBackends("the policy's weight gradient is unbiased: Monte-Carlo mean within 4 s.e. (WTA-CRS, CRS)", () => {
  const p = heavyTailed(11, 32, 3, 2);
  const x = tf.tensor2d(Float32Array.from(p.x), [p.n, p.a]), dy = tf.tensor2d(Float32Array.from(p.dy), [p.n, p.b]);
  const truth = exact(p), draws = 1500;
  for (const estimator of ["wta-crs", "crs"] as const) {
    const policy = wtacrsPolicy({ ratio: 0.25, minK: 1, estimator, seed: 3 });
    const sum = new Float64Array(truth.length), sq = new Float64Array(truth.length);
    for (let d = 0; d < draws; d++) {
      const packed = policy.pack(x, info(d));
      const gt = policy.weightGrad(packed, dy, info(d));
      const g = gt.dataSync();
      tf.dispose([gt]);
      policy.dispose(packed);
      for (let j = 0; j < g.length; j++) {
        sum[j] += g[j];
        sq[j] += g[j] * g[j];
      }
    }
    for (let j = 0; j < truth.length; j++) {
      const mean = sum[j] / draws, se = Math.sqrt((sq[j] / draws - mean * mean) / (draws - 1));
      assert.ok(Math.abs(mean - truth[j]) < 4 * se, `${estimator} entry ${j}: ${mean} vs ${truth[j]} (s.e. ${se})`);
    }
    policy.cache.dispose();
  }
  tf.dispose([x, dy]);
});

testOnBackends("k = N is exact: the weight gradient equals xᵀ·dy bitwise and all of x is kept", () => {
  const x = tf.randomNormal([12, 5], 0, 1, "float32", 1) as tf.Tensor2D;
  const dy = tf.randomNormal([12, 3], 0, 1, "float32", 2) as tf.Tensor2D;
  for (const policy of [wtacrsPolicy({ ratio: 1 }), wtacrsPolicy({ ratio: 0.3, minK: 12 })]) {
    const packed = policy.pack(x, info(0));
    assert.equal(packed.kind, "exact");
    assert.equal(policy.bytes(packed), 12 * 5 * 4);
    const g = policy.weightGrad(packed, dy, info(0));
    assert.deepEqual(g.dataSync(), tf.matMul(x, dy, true, false).dataSync());
    policy.dispose(packed);
    g.dispose();
  }
  assert.equal(wtacrsPolicy({ ratio: 1 }).exact, true);
  assert.equal(wtacrsPolicy({ ratio: 0.5 }).exact, false);
  tf.dispose([x, dy]);
});

testOnBackends("saved bytes equal the analytic count: k rows + an int32 index + a float32 weight per row", () => {
  const x = tf.randomNormal([100, 16], 0, 1, "float32", 4) as tf.Tensor2D;
  const keep = wtacrsPolicy({ ratio: 0.3 });
  const packed = keep.pack(x, info(0));
  assert.equal(packed.kind, "sampled");
  assert.equal(keep.bytes(packed), 30 * 16 * 4 + 30 * 8);
  assert.equal(keep.predictBytes([100, 16], "float32", info(0)), keep.bytes(packed));
  keep.dispose(packed);
  // Rows packed by Mesa: 1 byte per element + 8 per group, plus the indices and weights.
  const mesa = mesaPolicy({ grouping: "head-wise" });
  const inner = wtacrsPolicy({ ratio: 0.3, inner: mesa });
  assert.equal(inner.name, "wta-crs(0.3)+mesa(head-wise, stochastic)");
  const p8 = inner.pack(x, info(0));
  assert.equal(inner.bytes(p8), 30 * 16 + 8 * 4 + 30 * 8);
  assert.equal(inner.predictBytes([100, 16], "float32", info(0)), inner.bytes(p8));
  inner.dispose(p8);
  mesa.state.dispose();
  x.dispose();
});

testOnBackends("unpack gives the dense stand-in x̂ with x̂ᵀ·dy equal to the weight-gradient estimate", () => {
  const x = tf.randomNormal([40, 6], 0, 1, "float32", 5) as tf.Tensor2D;
  const dy = tf.randomNormal([40, 4], 0, 1, "float32", 6) as tf.Tensor2D;
  const policy = wtacrsPolicy({ ratio: 0.25, minK: 1, estimator: "crs" }); // CRS draws duplicates at this size
  const packed = policy.pack(x, info(3));
  const viaUnpack = tf.tidy(() => tf.matMul(policy.unpack(packed, info(3)), dy, true, false));
  const direct = policy.weightGrad(packed, dy, info(3));
  const a = viaUnpack.dataSync(), b = direct.dataSync();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), `entry ${i}`);
  policy.dispose(packed);
  tf.dispose([x, dy, viaUnpack, direct]);
});

testOnBackends("pack, weightGrad and dispose leak nothing", async () => {
  const x = tf.randomNormal([64, 8]) as tf.Tensor2D, dy = tf.randomNormal([64, 4]) as tf.Tensor2D;
  const mesa = mesaPolicy();
  const policies = [wtacrsPolicy(), wtacrsPolicy({ inner: mesa }), wtacrsPolicy({ ratio: 1 })];
  mesa.pack(x, info(0)); // Mesa's running range for the tag exists before counting (it is state, not a leak)
  const ids = Int32Array.from({ length: 8 }, (_, i) => i);
  const steps = (list: number[]) => {
    for (const policy of policies) {
      for (const step of list) {
        const i = info(step, { rows: { ids } });
        const packed = policy.pack(x, i);
        tf.dispose([policy.weightGrad(packed, dy, i), policy.unpack(packed, i)]);
        policy.dispose(packed);
      }
    }
  };
  steps([0, 1]); // the norm cache fills both versions it keeps per entry (state, not a leak)
  await assertNoLeaks(() => steps([2, 3]));
  mesa.state.dispose();
  tf.dispose([x, dy]);
});

testOnBackends("the cache steers sampling to the rows whose last gradient was large, and padding is never kept", () => {
  const n = 64, ids = Int32Array.from({ length: 8 }, (_, i) => 100 + i); // 8 examples of 8 tokens
  const x = tf.ones([n, 4]) as tf.Tensor2D; // flat ‖x‖: only the gradient norms can make winners
  const big = [5, 21, 40];
  const dyData = new Float32Array(n * 2).fill(0.01);
  for (const i of big) dyData.fill(10, 2 * i, 2 * i + 2);
  const dy = tf.tensor2d(dyData, [n, 2]);
  const policy = wtacrsPolicy({ ratio: 0.25, minK: 1 }); // k = 16
  const step0 = info(0, { rows: { ids } });
  const first = policy.sample(x, step0);
  assert.equal(first.winners, 0, "no cache yet: flat weights, no winner");
  const packed = policy.pack(x, step0);
  policy.weightGrad(packed, dy, step0).dispose(); // writes this backward's ‖dy_i‖
  policy.dispose(packed);
  assert.equal(policy.cache.size, 8);
  assert.equal(policy.cache.bytes, 64 * 2);
  const second = policy.sample(x, info(1, { rows: { ids } }));
  assert.ok(second.winners >= 3, `winners ${second.winners}`);
  for (const i of big) assert.ok(second.indices.includes(i) && second.scales[second.indices.indexOf(i)] === 1);
  // Another batch order (the ids move with their rows): the same rows win.
  const order = [7, 6, 5, 4, 3, 2, 1, 0];
  const shuffledIds = Int32Array.from(order, (e) => ids[e]);
  const xs = tf.ones([n, 4]) as tf.Tensor2D;
  const moved = policy.sample(xs, info(1, { rows: { ids: shuffledIds } }));
  for (const i of big) {
    const e = Math.floor(i / 8), r = i % 8, at = order.indexOf(e) * 8 + r;
    assert.ok(moved.indices.includes(at), `row ${i} moved to ${at}`);
  }
  // scores "input" ignores the cache.
  const plain = wtacrsPolicy({ ratio: 0.25, minK: 1, scores: "input", cache: policy.cache });
  assert.equal(plain.sample(x, info(1, { rows: { ids } })).winners, 0);
  // Padding tokens (live = 0) are never kept, whatever the weights.
  const live = new Uint8Array(n).map((_, i) => (i % 8 < 5 ? 1 : 0));
  for (let step = 1; step < 30; step++) {
    const s = policy.sample(x, info(step, { rows: { ids, live } }));
    for (const i of s.indices) assert.equal(live[i], 1, `padding row ${i} kept at step ${step}`);
  }
  policy.cache.dispose();
  assert.equal(policy.cache.bytes, 0);
  tf.dispose([x, xs, dy]);
});

testOnBackends(
  "a replay of a step samples the rows its first run sampled, even after its backward wrote the cache",
  () => {
    const ids = Int32Array.from([0, 1, 2, 3]);
    const x = tf.randomNormal([32, 4], 0, 1, "float32", 8) as tf.Tensor2D;
    const dy = tf.randomNormal([32, 3], 0, 1, "float32", 9) as tf.Tensor2D;
    const policy = wtacrsPolicy({ ratio: 0.25, minK: 1 });
    const run = (step: number) => {
      const i = info(step, { rows: { ids } });
      const s = policy.sample(x, i);
      const packed = policy.pack(x, i);
      tf.tidy(() => {
        policy.weightGrad(packed, dy.mul(step + 1).mul(tf.linspace(0.1, 3, 32).reshape([32, 1])), i);
      });
      policy.dispose(packed);
      return s;
    };
    run(0);
    const first = run(1);
    const replay = run(1); // step 1 again: reads what step 0 left, not step 1's write
    assert.deepEqual(replay, first);
    const next = run(2);
    assert.notDeepEqual(next.indices, first.indices);
    policy.cache.dispose();
    tf.dispose([x, dy]);
  },
);

Deno.test("GradNormCache keeps two versions and reads the newest one before the step", () => {
  const c = new GradNormCache();
  c.write("a", 1, 0, [1, 2]);
  c.write("a", 1, 1, [3, 4]);
  assert.deepEqual([...c.read("a", 1, 1, 2)!], [1, 2]);
  assert.deepEqual([...c.read("a", 1, 2, 2)!], [3, 4]);
  assert.equal(c.read("a", 1, 0, 2), undefined);
  assert.equal(c.read("a", 1, 2, 3), undefined, "another row count is a miss");
  assert.equal(c.read("b", 1, 2, 2), undefined);
  c.write("a", 1, 2, [5, 6]); // drops step 0
  assert.deepEqual([...c.read("a", 1, 2, 2)!], [3, 4]);
  assert.equal(c.bytes, 8);
  assert.ok(Math.abs(c.read("a", 1, 3, 2)![0] - 5) < 1e-6, "bfloat16 holds small integers exactly");
  c.write("a", 2, 0, [1 / 3]);
  assert.ok(Math.abs(c.read("a", 2, 1, 1)![0] - 1 / 3) < 1 / 3 / 128, "bfloat16 keeps 8 significant bits");
  c.dispose();
  assert.equal(c.bytes, 0);
  assert.equal(c.size, 0);
});

Deno.test("bad options give a RangeError or TypeError naming the option and the value", () => {
  for (const ratio of [0, -0.1, 1.5, NaN]) {
    assert.throws(() => wtacrsPolicy({ ratio }), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, new RegExp(`'ratio' must be in \\(0, 1\\]: current value is ${ratio}`));
      return true;
    });
  }
  for (const minK of [0, -3, 2.5]) {
    assert.throws(
      () => wtacrs({ minK }),
      (e: Error) =>
        e instanceof RangeError && e.message.includes(`'minK' must be an integer >= 1: current value is ${minK}`),
    );
  }
  assert.throws(
    () => wtacrsPolicy({ estimator: "topk" as unknown as "crs" }),
    /'estimator' must be one of .*current value is "topk"/,
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wtacrsPolicy({ scores: "dy" as any }), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wtacrsPolicy({ inner: 3 as any }), /'inner' must be an ActivationPolicy/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wtacrs({ exclude: "blocks.0" as any }), TypeError);
  assert.throws(() => wtacrsPolicy().pack(tf.zeros([2, 3, 4]), info(0)), /float32 \[N, in\] Linear inputs/);
});
