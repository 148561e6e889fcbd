import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  dequantize,
  type Grouping,
  type GroupLayout,
  groupLayout,
  groupMinMax,
  HEADWISE_CHANNEL_GROUPS,
  quantize,
  type Rounding,
} from "../../lib/mesa/quantize.ts";
import { fillUniform, uniformNoise } from "../../lib/mesa/noise.ts";
import { testOnBackends } from "../_util/backends.ts";

/** Per-group α = max − min and β = min of `x` (the first-batch range), as arrays and tensors. */
function batchRange(x: tf.Tensor, layout: GroupLayout) {
  const { min, max } = groupMinMax(x, layout);
  const alpha = tf.sub(max, min) as tf.Tensor1D;
  const out = { alpha, beta: min, a: Array.from(alpha.dataSync()), b: Array.from(min.dataSync()) };
  max.dispose();
  return out;
}

/** Group index of flat element i for a `[pre, G, rest]` layout. */
function groupOf(i: number, layout: GroupLayout): number {
  const [, g, rest] = layout.shape3;
  return Math.floor(i / rest) % g;
}

/** Max of |x̂ − x| / Δ_g over elements (Δ_g = α_g/255), and max of |x̂ − x| − bound·Δ_g. */
function roundTripErrors(x: tf.Tensor, grouping: Grouping, rounding: Rounding, groupAxis = 1, seed = 3) {
  const layout = groupLayout(x.shape, groupAxis, grouping);
  const { alpha, beta, a } = batchRange(x, layout);
  const xh = tf.tidy(() => dequantize(quantize(x, alpha, beta, layout, { rounding, seed }), alpha, beta, layout));
  const xs = x.dataSync(), hs = xh.dataSync();
  const errs = Array.from(xs, (v, i) => ({ err: Math.abs(hs[i] - v), delta: a[groupOf(i, layout)] / 255 }));
  [alpha, beta, xh].forEach((t) => t.dispose());
  return { layout, errs };
}

for (const grouping of ["per-tensor", "head-wise"] as const) {
  testOnBackends(`nearest rounding: |x̂ − x| <= Δ/2 + 1e-6 per element (${grouping})`, () => {
    const x = tf.randomNormal([2, 4, 8, 16], 0, 1, "float32", 11);
    const { layout, errs } = roundTripErrors(x, grouping, "nearest");
    assert.equal(layout.groups, grouping === "per-tensor" ? 1 : 4);
    for (const [i, { err, delta }] of errs.entries()) {
      assert.ok(err <= delta / 2 + 1e-6, `element ${i}: error ${err} > Δ/2 = ${delta / 2}`);
    }
    x.dispose();
  });

  testOnBackends(`stochastic rounding: |x̂ − x| < Δ (+1e-6 float slack) per element (${grouping})`, () => {
    const x = tf.randomNormal([2, 4, 8, 16], 0, 1, "float32", 12);
    const { errs } = roundTripErrors(x, grouping, "stochastic");
    let worst = 0;
    for (const [i, { err, delta }] of errs.entries()) {
      assert.ok(err < delta + 1e-6, `element ${i}: error ${err} >= Δ = ${delta}`);
      worst = Math.max(worst, err / delta);
    }
    assert.ok(worst > 0.5, `stochastic rounding should use the whole step: worst error ${worst}·Δ`);
    x.dispose();
  });
}

testOnBackends("head-wise grouping gives each head its own range (smaller error on small-scale heads)", () => {
  const scales = tf.tensor([0.01, 1, 10, 100]).reshape([1, 4, 1, 1]);
  const x = tf.mul(tf.randomNormal([2, 4, 8, 16], 0, 1, "float32", 13), scales);
  const perHead = (grouping: Grouping) => {
    const { errs } = roundTripErrors(x, grouping, "nearest");
    const sums = [0, 0, 0, 0];
    errs.forEach(({ err }, i) => (sums[Math.floor(i / 128) % 4] += err));
    return sums;
  };
  const whole = perHead("per-tensor"), heads = perHead("head-wise");
  assert.ok(heads[0] < whole[0] / 100, `head 0: ${heads[0]} vs ${whole[0]}`);
  assert.ok(heads[1] < whole[1] / 10, `head 1: ${heads[1]} vs ${whole[1]}`);
  [scales, x].forEach((t) => t.dispose());
});

testOnBackends("stochastic rounding is unbiased: mean of x̂ over 200 seeds within 4 standard errors of x", () => {
  // Fixed range per head (so only the noise varies). Elements sit at k·Δ + f·Δ with f in [0.1, 0.9] (Bernoulli
  // variance well away from 0) or f = 0 (on the grid: zero variance, x̂ must equal x).
  const shape = [1, 4, 4, 8];
  const layout = groupLayout(shape, 1, "head-wise");
  const a = [1, 0.5, 4, 2], b = [-0.5, 0, -2, 3];
  const xs = new Float32Array(128);
  for (let i = 0; i < 128; i++) {
    const g = Math.floor(i / 32), delta = a[g] / 255;
    const k = (i * 37) % 255, f = i % 8 === 0 ? 0 : 0.1 + 0.8 * ((i * 0.618) % 1);
    xs[i] = b[g] + (k + f) * delta;
  }
  const x = tf.tensor(xs, shape), alpha = tf.tensor1d(a), beta = tf.tensor1d(b);
  const seeds = 200, sum = new Float64Array(128), sq = new Float64Array(128);
  for (let s = 0; s < seeds; s++) {
    const xh = tf.tidy(() => dequantize(quantize(x, alpha, beta, layout, { seed: s }), alpha, beta, layout));
    xh.dataSync().forEach((v, i) => {
      sum[i] += v;
      sq[i] += v * v;
    });
    xh.dispose();
  }
  let zeroVar = 0;
  for (let i = 0; i < 128; i++) {
    const mean = sum[i] / seeds;
    const sd = Math.sqrt(Math.max(0, (sq[i] - seeds * mean * mean) / (seeds - 1)));
    const se = sd / Math.sqrt(seeds);
    const delta = a[Math.floor(i / 32)] / 255;
    if (sd < 1e-3 * delta) {
      zeroVar++;
      assert.ok(Math.abs(mean - xs[i]) <= 1e-6, `element ${i} (zero variance): mean ${mean} vs x ${xs[i]}`);
    } else {
      assert.ok(
        Math.abs(mean - xs[i]) <= 4 * se,
        `element ${i}: |mean − x| = ${Math.abs(mean - xs[i])} > 4·SE = ${4 * se}`,
      );
    }
  }
  assert.equal(zeroVar, 16, "exactly the on-grid elements have zero variance");
  [x, alpha, beta].forEach((t) => t.dispose());
});

testOnBackends("values outside [β, β+α] clamp to the range ends (no wrap-around)", () => {
  const layout = groupLayout([6], undefined, "per-tensor");
  const alpha = tf.tensor1d([2]), beta = tf.tensor1d([-1]);
  const x = tf.tensor1d([-100, -1.5, 0, 1, 10, 1e30]);
  for (const rounding of ["nearest", "stochastic"] as const) {
    const codes = quantize(x, alpha, beta, layout, { rounding, seed: 5 });
    const [c0, c1, , c3, c4, c5] = Array.from(codes.dataSync());
    assert.deepEqual([c0, c1, c3, c4, c5], [0, 0, 255, 255, 255], rounding);
    const xh = Array.from(dequantize(codes, alpha, beta, layout).dataSync());
    assert.deepEqual([xh[0], xh[1]], [-1, -1]);
    for (const v of [xh[3], xh[4], xh[5]]) assert.ok(Math.abs(v - 1) < 1e-6, `${rounding}: ${v} should be β+α = 1`);
    codes.dispose();
  }
  [alpha, beta, x].forEach((t) => t.dispose());
});

testOnBackends("a zero-range (constant) group gives no NaN and dequantizes to the constant", () => {
  const x = tf.fill([4, 8], 3.5);
  for (const grouping of ["per-tensor", { groups: 2 }] as const) {
    const layout = groupLayout(x.shape, 1, grouping);
    const { alpha, beta } = batchRange(x, layout);
    for (const rounding of ["nearest", "stochastic"] as const) {
      const xh = tf.tidy(() => dequantize(quantize(x, alpha, beta, layout, { rounding }), alpha, beta, layout));
      for (const v of xh.dataSync()) assert.ok(Math.abs(v - 3.5) < 1e-6, `${rounding}: ${v}`);
      xh.dispose();
    }
    [alpha, beta].forEach((t) => t.dispose());
  }
  x.dispose();
});

testOnBackends("groupLayout: heads for 4-D, channel blocks for 2-D, per-tensor fallback", () => {
  assert.deepEqual(groupLayout([2, 4, 8, 16], 1, "head-wise").shape3, [2, 4, 128]);
  assert.deepEqual(groupLayout([2, 4, 8, 16], 1, { groups: 2 }).shape3, [2, 2, 256]);
  assert.deepEqual(groupLayout([10, 64], 1, "head-wise").shape3, [10, HEADWISE_CHANNEL_GROUPS, 16]);
  assert.deepEqual(groupLayout([10, 64], 1, { groups: 8 }).shape3, [10, 8, 8]);
  assert.deepEqual(groupLayout([10, 64], 1, { groups: 5 }), { groups: 1, shape3: [1, 1, 640] }, "C % G != 0");
  assert.deepEqual(groupLayout([10, 64], undefined, "head-wise"), { groups: 1, shape3: [1, 1, 640] }, "no axis");
  assert.deepEqual(groupLayout([10, 64], 1, "per-tensor").groups, 1);
});

testOnBackends("groupMinMax reduces per contiguous channel block", () => {
  const x = tf.tensor2d([[0, 1, 10, 20], [2, 3, 30, 40]]);
  const { min, max } = groupMinMax(x, groupLayout(x.shape, 1, { groups: 2 }));
  assert.deepEqual(Array.from(min.dataSync()), [0, 10]);
  assert.deepEqual(Array.from(max.dataSync()), [3, 40]);
  [x, min, max].forEach((t) => t.dispose());
});

testOnBackends("uniform noise is seeded, in [0, 1), and roughly uniform", () => {
  const a = uniformNoise([1000], 9), b = uniformNoise([1000], 9), c = uniformNoise([1000], 10);
  const av = Array.from(a.dataSync());
  assert.deepEqual(av, Array.from(b.dataSync()));
  assert.notDeepEqual(av, Array.from(c.dataSync()));
  assert.ok(av.every((v) => v >= 0 && v < 1));
  const mean = av.reduce((s, v) => s + v, 0) / av.length;
  assert.ok(Math.abs(mean - 0.5) < 4 * Math.sqrt(1 / 12 / 1000), `mean ${mean}`);
  assert.deepEqual(Array.from(fillUniform(new Float32Array(1000), 9)), av);
  [a, b, c].forEach((t) => t.dispose());
});
