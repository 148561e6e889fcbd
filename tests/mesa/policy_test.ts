import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { SavedInfo } from "../../lib/nn/policy.ts";
import { mesaPolicy } from "../../lib/mesa/policy.ts";
import { mesa, MESA_DEFAULT_ROLES, mesaExcept } from "../../lib/mesa/select.ts";
import { testOnBackends } from "../_util/backends.ts";

const FC: SavedInfo = { tag: "fc.input", role: "linear.input", groupAxis: 1 };
const Q: SavedInfo = { tag: "attn.q", role: "attn.q", groupAxis: 1 };

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6, msg = ""): void {
  assert.equal(actual.length, expected.length, msg);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${msg}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

testOnBackends("running range: first batch sets α = max − min, β = min; later batches fold in with λ = 0.9", () => {
  const policy = mesaPolicy({ outOfRange: "clamp" });
  const x1 = tf.tensor2d([[0, 2], [1, 1]]), x2 = tf.tensor2d([[-1, 3], [0, 0]]);
  const p1 = policy.pack(x1, FC);
  close(p1.alpha.dataSync(), [2]);
  close(p1.beta.dataSync(), [0]);
  const p2 = policy.pack(x2, FC);
  // Updated before quantizing this batch: α = 0.9·2 + 0.1·4, β = 0.9·0 + 0.1·(−1).
  close(p2.alpha.dataSync(), [2.2], 1e-6, "alpha used for batch 2");
  close(p2.beta.dataSync(), [-0.1], 1e-6, "beta used for batch 2");
  const r = policy.state.get("fc.input")!;
  close(r.alpha, [2.2]);
  close(r.beta, [-0.1]);
  assert.equal(r.updates, 2);
  close(p1.alpha.dataSync(), [2], 1e-6, "batch 1's packed range is unchanged by the update");
  [p1, p2].forEach((p) => policy.dispose(p));
  [x1, x2].forEach((t) => t.dispose());
  policy.state.dispose();
  assert.equal(policy.state.size, 0);
});

testOnBackends('outOfRange "expand" (default): the batch range widens the EMA range; the EMA itself is Mesa\'s', () => {
  const policy = mesaPolicy();
  assert.equal(policy.options.outOfRange, "expand");
  const x1 = tf.tensor2d([[0, 2], [1, 1]]), x2 = tf.tensor2d([[-1, 3], [0, 0]]), x3 = tf.tensor2d([[0.5, 1]]);
  const p1 = policy.pack(x1, FC), p2 = policy.pack(x2, FC);
  // EMA after batch 2: α = 2.2, β = −0.1 (covers [−0.1, 2.1]); batch 2 spans [−1, 3], so it is quantized over [−1, 3].
  close(p2.beta.dataSync(), [-1], 1e-6, "beta used for batch 2");
  close(p2.alpha.dataSync(), [4], 1e-6, "alpha used for batch 2");
  close(policy.state.get("fc.input")!.alpha, [2.2], 1e-6, "EMA α unchanged by the widening");
  close(policy.state.get("fc.input")!.beta, [-0.1], 1e-6, "EMA β unchanged by the widening");
  // A batch inside the EMA range uses the EMA range: α = 0.9·2.2 + 0.1·0.5, β = 0.9·(−0.1) + 0.1·0.5.
  const p3 = policy.pack(x3, FC);
  close(p3.alpha.dataSync(), [2.03], 1e-6, "alpha used for batch 3");
  close(p3.beta.dataSync(), [-0.04], 1e-6, "beta used for batch 3");
  [p1, p2, p3].forEach((p) => policy.dispose(p));
  [x1, x2, x3].forEach((t) => t.dispose());
  policy.state.dispose();
});

testOnBackends('outOfRange "expand": a batch 10x beyond the running range is not clamped (error < one step)', () => {
  for (const rounding of ["stochastic", "nearest"] as const) {
    const policy = mesaPolicy({ rounding });
    const x = tf.randomUniform([64, 16], 0, 1, "float32", 2);
    policy.dispose(policy.pack(x, FC));
    const big = tf.mul(x, 10);
    const p = policy.pack(big, FC);
    const a = p.alpha.dataSync()[0], step = a / 255;
    const xs = big.dataSync(), xh = policy.unpack(p, FC);
    const hs = xh.dataSync();
    let maxErr = 0;
    for (let i = 0; i < xs.length; i++) maxErr = Math.max(maxErr, Math.abs(hs[i] - xs[i]));
    assert.ok(maxErr < step * (1 + 1e-4), `${rounding}: max error ${maxErr} >= step ${step}`);
    assert.ok(Math.max(...xs) > 5, "the batch really lies beyond the first batch's range [0, 1]");
    policy.dispose(p);
    [x, big, xh].forEach((t) => t.dispose());
    policy.state.dispose();
  }
});

testOnBackends("head-wise running ranges are per head; emaDecay 0 uses each batch's own range", () => {
  const policy = mesaPolicy({ grouping: "head-wise", emaDecay: 0 });
  const x = tf.mul(tf.randomUniform([2, 4, 3, 5], 0, 1, "float32", 1), tf.tensor([1, 2, 3, 4]).reshape([1, 4, 1, 1]));
  const p = policy.pack(x, Q);
  const { min, max } = tf.tidy(() => ({ min: tf.min(x, [0, 2, 3]), max: tf.max(x, [0, 2, 3]) }));
  const mn = Array.from(min.dataSync()), mx = Array.from(max.dataSync());
  close(p.beta.dataSync(), mn);
  close(p.alpha.dataSync(), mx.map((v, i) => v - mn[i]));
  const y = tf.mul(x, 3);
  const p2 = policy.pack(y, Q);
  close(p2.alpha.dataSync(), mx.map((v, i) => 3 * (v - mn[i])), 1e-5, "λ = 0: the new batch's range only");
  [p, p2].forEach((q) => policy.dispose(q));
  [x, y, min, max].forEach((t) => t.dispose());
  policy.state.dispose();
});

testOnBackends('outOfRange "clamp": a batch 10x beyond the running range dequantizes to β+α, not garbage', () => {
  for (const rounding of ["stochastic", "nearest"] as const) {
    const policy = mesaPolicy({ rounding, outOfRange: "clamp" });
    const x = tf.randomUniform([64, 16], 0, 1, "float32", 2);
    policy.dispose(policy.pack(x, FC));
    const big = tf.mul(x, 10);
    const p = policy.pack(big, FC);
    const a = p.alpha.dataSync()[0], b = p.beta.dataSync()[0];
    const xs = big.dataSync(), xh = policy.unpack(p, FC);
    const hs = xh.dataSync();
    let clamped = 0;
    for (let i = 0; i < xs.length; i++) {
      assert.ok(hs[i] >= b - 1e-6 && hs[i] <= a + b + 1e-6, `${rounding}: ${hs[i]} outside [${b}, ${a + b}]`);
      if (xs[i] > a + b) {
        clamped++;
        assert.ok(Math.abs(hs[i] - (a + b)) < 1e-5, `${rounding}: ${xs[i]} -> ${hs[i]}, want β+α = ${a + b}`);
      }
    }
    assert.ok(clamped > 500, `most of the batch lies above the running max (${clamped})`);
    policy.dispose(p);
    [x, big, xh].forEach((t) => t.dispose());
    policy.state.dispose();
  }
});

testOnBackends("a constant tensor packs and unpacks without NaN", () => {
  const policy = mesaPolicy({ grouping: "head-wise" });
  const x = tf.zeros([2, 4, 3, 5]);
  const p = policy.pack(x, Q);
  const xh = policy.unpack(p, Q);
  assert.ok(xh.dataSync().every((v) => v === 0));
  policy.dispose(p);
  [x, xh].forEach((t) => t.dispose());
  policy.state.dispose();
});

testOnBackends("bytes(): 1 byte per element + 8 bytes per group, equal to predictBytes(shape)", () => {
  for (const grouping of ["per-tensor", "head-wise", { groups: 8 }] as const) {
    const policy = mesaPolicy({ grouping });
    const cases: [number[], SavedInfo, number][] = [
      [[2, 4, 8, 16], Q, grouping === "per-tensor" ? 1 : grouping === "head-wise" ? 4 : 1], // 4 heads % 8 != 0
      [[24, 64], FC, grouping === "per-tensor" ? 1 : grouping === "head-wise" ? 4 : 8],
      [[24, 64], { tag: "x", role: "linear.input" }, 1], // no group axis
    ];
    for (const [shape, info, groups] of cases) {
      const x = tf.randomNormal(shape);
      const p = policy.pack(x, info);
      assert.equal(p.bytes.dtype, "bool");
      assert.equal(policy.bytes(p), x.size + 8 * groups, `${JSON.stringify(grouping)} [${shape}]`);
      assert.equal(policy.predictBytes(shape, "float32", info), policy.bytes(p));
      policy.dispose(p);
      x.dispose();
    }
    policy.state.dispose();
  }
});

testOnBackends("state: inspect, reset, snapshot/restore reproduces codes; dispose frees every state tensor", () => {
  const before = tf.memory().numTensors;
  const policy = mesaPolicy({ seed: 7 });
  const x = tf.randomNormal([8, 8], 0, 1, "float32", 3);
  policy.dispose(policy.pack(x, FC));
  policy.dispose(policy.pack(x, { ...FC, tag: "fc2.input" }));
  assert.deepEqual(policy.state.tags(), ["fc.input", "fc2.input"]);
  assert.equal(policy.state.numTensors, 4);
  assert.equal(policy.state.bytes(), 16);
  assert.equal(tf.memory().numTensors - before, 5, "x + two tensors per tag");
  const snap = policy.state.snapshot();
  const codes = () => {
    const p = policy.pack(x, FC);
    const out = Array.from(p.bytes.dataSync());
    policy.dispose(p);
    return out;
  };
  const first = codes();
  assert.equal(policy.state.get("fc.input")!.updates, 2);
  policy.state.restore(snap);
  assert.equal(policy.state.get("fc.input")!.updates, 1);
  assert.deepEqual(Array.from(policy.state.get("fc.input")!.alpha), snap.ranges["fc.input"].alpha);
  assert.deepEqual(codes(), first, "restored state (ranges + noise counter) reproduces the same codes");
  policy.state.reset("fc2.input");
  assert.deepEqual(policy.state.tags(), ["fc.input"]);
  policy.state.reset();
  assert.equal(policy.state.size, 0);
  policy.dispose(policy.pack(x, FC));
  policy.state.dispose();
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
});

testOnBackends("mesa(): default roles, per-layer opt-out with mesaExcept, fallback to keep", () => {
  const m = mesa({ grouping: "head-wise", exclude: mesaExcept(["blocks.0", "head"]) });
  assert.equal(m.selector({ tag: "blocks.1.attn.q", role: "attn.q", groupAxis: 1 }), m.policy);
  assert.equal(m.selector({ tag: "blocks.10.attn.q", role: "attn.q", groupAxis: 1 }), m.policy);
  assert.equal(m.selector({ tag: "blocks.0.attn.q", role: "attn.q", groupAxis: 1 }).name, "keep");
  assert.equal(m.selector({ tag: "head.out.input", role: "linear.input", groupAxis: 1 }).name, "keep");
  assert.equal(m.selector({ tag: "blocks.1.ln1.mean", role: "layernorm.stats" }).name, "keep");
  assert.equal(m.selector({ tag: "loss.probs", role: "loss.probs" }).name, "keep");
  for (const role of MESA_DEFAULT_ROLES) assert.equal(m.selector({ tag: "blocks.2.x", role }), m.policy, role);
  assert.equal(m.policy.name, "mesa(head-wise, stochastic)");
  assert.equal(m.policy.exact, false);
  // A prefix matches whole path segments: "blocks.1" is not a prefix of "blocks.10".
  const skip1 = mesaExcept(["blocks.1"]);
  assert.equal(skip1({ tag: "blocks.1.attn.q", role: "attn.q" }), true);
  assert.equal(skip1({ tag: "blocks.1", role: "checkpoint.input" }), true);
  assert.equal(skip1({ tag: "blocks.10.attn.q", role: "attn.q" }), false);
  assert.equal(skip1({ tag: "blocks.12.mlp.fc1.input", role: "linear.input" }), false);
  const only = mesa({ roles: ["gelu.input"] });
  assert.equal(only.selector({ tag: "a", role: "linear.input" }).name, "keep");
  assert.equal(only.selector({ tag: "a", role: "gelu.input" }).name, "mesa(per-tensor, stochastic)");
  m.dispose();
  only.dispose();
});

testOnBackends("bad options throw RangeError/TypeError naming the option and value", () => {
  const bad: [unknown, string, RegExp][] = [
    [{ emaDecay: 2 }, "RangeError", /Cannot create mesa policy: 'emaDecay' must be in \[0, 1\): current value is 2/],
    [{ emaDecay: -0.1 }, "RangeError", /'emaDecay' must be in \[0, 1\): current value is -0.1/],
    [{ emaDecay: NaN }, "RangeError", /current value is NaN/],
    [{ emaDecay: "0.9" }, "TypeError", /'emaDecay' must be a number: current value is "0.9"/],
    [{ grouping: "heads" }, "TypeError", /'grouping' must be .*: current value is "heads"/],
    [{ grouping: { groups: 0 } }, "RangeError", /'grouping.groups' must be a positive integer: current value is 0/],
    [{ grouping: { groups: 2.5 } }, "RangeError", /current value is 2.5/],
    [{ rounding: "up" }, "TypeError", /'rounding' must be "stochastic" or "nearest": current value is "up"/],
    [{ seed: 1.5 }, "RangeError", /'seed' must be an integer: current value is 1.5/],
    [{ outOfRange: "wrap" }, "TypeError", /'outOfRange' must be "clamp" or "expand": current value is "wrap"/],
    [{ roles: "attn.q" }, "TypeError", /'roles' must be an array/],
    [{ exclude: "blocks.0" }, "TypeError", /'exclude' must be a function/],
  ];
  for (const [options, name, message] of bad) {
    assert.throws(() => mesa(options as never), { name, message }, JSON.stringify(options));
  }
  assert.throws(() => mesaPolicy({ emaDecay: 1 }), { name: "RangeError", message: /current value is 1$/ });
  assert.throws(() => mesaExcept(["blocks.0", ""]), { name: "TypeError", message: /non-empty strings/ });
  const policy = mesaPolicy();
  const ids = tf.tensor1d([1, 2], "int32");
  assert.throws(() => policy.pack(ids, { tag: "embed.ids", role: "embedding.ids" }), {
    name: "TypeError",
    message: /"embed.ids".*current dtype is int32/,
  });
  ids.dispose();
});

testOnBackends("state.observe: sees each update's batch min/max and the updated range; unsubscribing stops it", () => {
  const policy = mesaPolicy({ outOfRange: "clamp" });
  const seen: { tag: string; min: number; max: number; alpha: number; beta: number }[] = [];
  const stop = policy.state.observe((tag, batch, range) => {
    seen.push({
      tag,
      min: batch.min.dataSync()[0],
      max: batch.max.dataSync()[0],
      alpha: range.alpha.dataSync()[0],
      beta: range.beta.dataSync()[0],
    });
  });
  const x1 = tf.tensor2d([[0, 2], [1, 1]]), x2 = tf.tensor2d([[-1, 3], [0, 0]]);
  policy.dispose(policy.pack(x1, FC));
  policy.dispose(policy.pack(x2, FC));
  stop();
  policy.dispose(policy.pack(x1, FC));
  assert.equal(seen.length, 2, "two updates observed, none after unsubscribing");
  assert.deepEqual(seen.map((s) => s.tag), ["fc.input", "fc.input"]);
  close([seen[1].min, seen[1].max], [-1, 3], 1e-6, "batch 2 min/max");
  close([seen[1].alpha, seen[1].beta], [2.2, -0.1], 1e-6, "EMA range after batch 2");
  [x1, x2].forEach((t) => t.dispose());
  policy.state.dispose();
});
