/**
 * The MeZO step: unbiased for a quadratic (Monte-Carlo mean of g·z within 4 standard errors of the gradient, and
 * E‖g·z‖² = (d + 2)‖∇L‖² for Gaussian z), one step equals SGD with the gradient g·z, the two evaluations leave the
 * parameters bit for bit (the original's in-place ±ε drifts), lr = 0 changes nothing, same seed same trajectory,
 * replayMezo rebuilds a 50-step run bitwise, weight decay skips biases and norms, subsets and LoRA adapters, memory at
 * inference level, no leaks, clear errors.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend/mod.ts";
import { isLoraParam, withLora } from "../../lib/lora/mod.ts";
import { meter } from "../../lib/memory/mod.ts";
import {
  axpz,
  errorRateObjective,
  gaussianAt,
  mezo,
  MezoLog,
  type MezoObjective,
  type MezoOptions,
  noiseKey,
  perturbed,
  rademacherAt,
  replayMezo,
} from "../../lib/mezo/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { disposeTree, forwardLoss, type Model, type Params, SoftmaxCrossEntropy } from "../../lib/nn/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { Trainer } from "../../lib/train/trainer.ts";
import { testOnBackends } from "../_util/backends.ts";

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);
}

function snapshot(params: Params): Map<string, Uint32Array> {
  return new Map(Object.entries(params).map(([k, v]) => [k, bits(v)]));
}

function assertSameBits(params: Params, snap: Map<string, Uint32Array>, what: string): void {
  for (const [k, v] of Object.entries(params)) assert.deepEqual(bits(v), snap.get(k), `${what}: ${k}`);
}

function cloneParams(params: Params): Params {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.clone()]));
}

function tinyGpt(seed = 1) {
  return createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed });
}

function lmBatch() {
  return {
    x: tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [3, 1, 4, 1, 5, 9, 2, 6]], [2, 8], "int32"),
    y: tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [1, 4, 1, 5, 9, 2, 6, 5]], [2, 8], "int32"),
  };
}

// ---- the quadratic L(θ) = ½ θᵀAθ + bᵀθ, d = 5, evaluated in float64 from the provider's float32 values

const D = 5;
const A = [
  [3, 1, 0, 0.5, 0],
  [1, 2, 0.3, 0, 0],
  [0, 0.3, 1.5, 0, 0.2],
  [0.5, 0, 0, 1, 0],
  [0, 0, 0.2, 0, 0.8],
];
const B = [0.5, -1, 0.25, 2, -0.75];
const THETA0 = [0.3, -0.2, 0.8, -0.5, 0.1];

const quadratic: MezoObjective = (_model, _batch, pass) => {
  const th = tf.tidy(() => Array.from(pass.params!.read("theta")!.dataSync()));
  let l = 0;
  for (let i = 0; i < D; i++) {
    l += B[i] * th[i];
    for (let j = 0; j < D; j++) l += 0.5 * th[i] * A[i][j] * th[j];
  }
  return l;
};

function quadModel(): Model {
  return {
    kind: "quadratic",
    config: {},
    layers: [],
    loss: new SoftmaxCrossEntropy(),
    params: { theta: tf.tensor1d(THETA0) },
    savedSpecs: () => [],
    flopsPerExample: () => 0,
  };
}

const DUMMY = { x: tf.zeros([1, 1], "int32"), y: tf.zeros([1, 1], "int32") };

Deno.test("quadratic: the Monte-Carlo mean of g·z is the gradient (4 SE) and E‖g·z‖² = (d+2)‖∇L‖²", async () => {
  await initBackend({ backend: "wasm" });
  const theta = Float32Array.from(THETA0); // the float32 values the objective sees
  const grad = A.map((row, i) => row.reduce((s, a, j) => s + a * theta[j], B[i]));
  const gradSq = grad.reduce((s, v) => s + v * v, 0);
  const model = quadModel();
  const log = new MezoLog();
  const step = mezo({ lr: 0, eps: 1e-3, objective: quadratic, log, seed: 5 });
  let state = step.init(model.params);
  const T = 20000;
  const sum = new Float64Array(D), sumSq = new Float64Array(D);
  let m2 = 0, m2Sq = 0, worstExact = 0;
  for (let t = 0; t < T; t++) {
    const r = step.step(model, DUMMY, state, { step: t, seed: 0 });
    state = r.state;
    r.params.theta.dispose();
    model.params = { theta: tf.tensor1d(THETA0) };
    const { seeds, g } = log.step(t);
    const key = noiseKey(seeds[0], "theta");
    let norm2 = 0, proj = 0;
    for (let i = 0; i < D; i++) {
      const z = gaussianAt(key, i);
      const gz = g[0] * z;
      sum[i] += gz;
      sumSq[i] += gz * gz;
      norm2 += gz * gz;
      proj += z * grad[i];
    }
    // For a quadratic the central difference is exactly zᵀ∇L (up to the float32 rounding of θ ± εz).
    worstExact = Math.max(worstExact, Math.abs(g[0] - proj) / (1 + Math.abs(proj)));
    m2 += norm2;
    m2Sq += norm2 * norm2;
  }
  model.params.theta.dispose();
  assert.ok(worstExact < 1e-3, `g differs from zᵀ∇L by ${worstExact}`);
  for (let i = 0; i < D; i++) {
    const mean = sum[i] / T, sd = Math.sqrt(sumSq[i] / T - mean * mean);
    const se = sd / Math.sqrt(T);
    assert.ok(Math.abs(mean - grad[i]) < 4 * se, `E[g·z]_${i} = ${mean} vs ∇L_${i} = ${grad[i]} (SE ${se})`);
  }
  const mean2 = m2 / T, se2 = Math.sqrt((m2Sq / T - mean2 * mean2) / T);
  const expected = (D + 2) * gradSq;
  assert.ok(Math.abs(mean2 - expected) < 4 * se2, `E‖g·z‖² = ${mean2} vs (d+2)‖∇L‖² = ${expected} (SE ${se2})`);
  // The paper's sphere formula (d+n−1)/n·‖∇L‖² = d‖∇L‖² is rejected for Gaussian z: another check that can fail.
  assert.ok(Math.abs(mean2 - D * gradSq) > 4 * se2, "the second moment is not d·‖∇L‖²");
});

testOnBackends("one MeZO step is an SGD step with gradient mean_j(g_j·z_j) + wd·θ (Gaussian and Rademacher)", () => {
  for (const noise of ["gaussian", "rademacher"] as const) {
    const model = quadModel();
    const log = new MezoLog();
    const lr = 0.05, wd = 0.1;
    const step = mezo({
      lr,
      eps: 1e-3,
      n: 3,
      weightDecay: wd,
      decayMask: () => true,
      noise,
      objective: quadratic,
      log,
    });
    const state = step.init(model.params);
    const r = step.step(model, DUMMY, state, { step: 7, seed: 3 });
    const { seeds, g } = log.step(0);
    const got = r.params.theta.dataSync();
    for (let i = 0; i < D; i++) {
      let gz = 0;
      for (let j = 0; j < 3; j++) {
        const key = noiseKey(seeds[j], "theta");
        gz += (g[j] * (noise === "gaussian" ? gaussianAt(key, i) : rademacherAt(key, i))) / 3;
      }
      const theta = Math.fround(THETA0[i]);
      const want = theta - lr * (gz + wd * theta);
      assert.ok(Math.abs(got[i] - want) <= 1e-6 * (1 + Math.abs(want)), `${noise} θ_${i}: ${got[i]} vs ${want}`);
    }
    assert.deepEqual(r.state.g, g);
    r.params.theta.dispose();
  }
});

testOnBackends("the two evaluations leave θ bitwise unchanged; the original's in-place +ε, −2ε, +ε drifts", () => {
  const gpt = tinyGpt(2);
  const batch = lmBatch();
  const snap = snapshot(gpt.params);
  const names = Object.keys(gpt.params);
  const losses = new Set<number>();
  for (let s = 0; s < 5; s++) {
    losses.add(forwardLoss(gpt, batch, { params: perturbed(gpt.params, names, s, 1e-3, "gaussian") }));
    losses.add(forwardLoss(gpt, batch, { params: perturbed(gpt.params, names, s, -1e-3, "gaussian") }));
  }
  assert.equal(losses.size, 10, "the perturbations are real");
  assertSameBits(gpt.params, snap, "after 10 perturbed passes");
  // The original perturbs in place: θ + εz − 2εz + εz, each in float32. Some elements come back different.
  let drifted = 0, total = 0;
  for (const name of names) {
    const key = noiseKey(0, name), th = gpt.params[name];
    const t = tf.tidy(() => {
      const p = axpz(th, { a: 1, c: 1e-3, key, kind: "gaussian" });
      const m = axpz(p, { a: 1, c: -2e-3, key, kind: "gaussian" });
      return axpz(m, { a: 1, c: 1e-3, key, kind: "gaussian" });
    });
    const a = bits(t), b = snap.get(name)!;
    for (let i = 0; i < a.length; i++) drifted += a[i] !== b[i] ? 1 : 0;
    total += a.length;
    t.dispose();
  }
  assert.ok(drifted > 0.01 * total, `in-place perturbation drifted ${drifted} of ${total} elements`);
  disposeTree(gpt.params);
  tf.dispose([batch.x, batch.y]);
});

testOnBackends("lr = 0 (with weight decay) leaves every parameter bitwise unchanged", () => {
  const gpt = tinyGpt(3);
  const batch = lmBatch();
  const snap = snapshot(gpt.params);
  const trainer = new Trainer(gpt, { step: mezo({ lr: 0, weightDecay: 0.1, n: 2 }) });
  for (let i = 0; i < 3; i++) assert.ok(Number.isFinite(trainer.step(batch).loss));
  assertSameBits(gpt.params, snap, "lr = 0");
  trainer.dispose();
  disposeTree(gpt.params);
  tf.dispose([batch.x, batch.y]);
});

function run(seed: number, steps: number, options: Partial<MezoOptions> = {}) {
  const gpt = tinyGpt(4);
  const batch = lmBatch();
  const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-3, ...options }), seed });
  const losses = Array.from({ length: steps }, () => trainer.step(batch).loss);
  trainer.dispose();
  tf.dispose([batch.x, batch.y]);
  return { gpt, losses };
}

testOnBackends("the same seed gives the same trajectory, bit for bit; another seed another one", () => {
  const a = run(9, 8), b = run(9, 8), c = run(10, 8);
  assert.deepEqual(a.losses, b.losses);
  assertSameBits(b.gpt.params, snapshot(a.gpt.params), "same seed");
  assert.notDeepEqual(c.losses, a.losses);
  assert.notDeepEqual(bits(c.gpt.params["head.out.w"]), bits(a.gpt.params["head.out.w"]));
  for (const r of [a, b, c]) disposeTree(r.gpt.params);
});

Deno.test("replayMezo rebuilds a 50-step run (n = 2, weight decay) bitwise from its log, a prefix too, on any backend", async () => {
  await initBackend({ backend: "wasm" });
  const gpt = tinyGpt(5);
  const initial = cloneParams(gpt.params);
  const batch = lmBatch();
  const log = new MezoLog();
  const trainer = new Trainer(gpt, { step: mezo({ lr: 2e-3, n: 2, weightDecay: 0.05, log }), seed: 1 });
  let at20: Map<string, Uint32Array> | undefined;
  for (let i = 0; i < 50; i++) {
    trainer.step(batch);
    if (i === 19) at20 = snapshot(gpt.params);
  }
  trainer.dispose();
  const final = snapshot(gpt.params);
  assert.equal(log.length, 50);
  const json = JSON.stringify(log.toJSON());
  assert.ok(json.length < 2000, `the log of 50 steps takes ${json.length} bytes`);
  const restored = MezoLog.fromJSON(JSON.parse(json));
  // Replayed with the fused kernel (wasm) and with the stock path (cpu): the same bits as the run.
  for (const backend of ["wasm", "cpu"] as const) {
    await initBackend({ backend });
    const before = tf.memory().numTensors;
    const replayed = replayMezo(restored, initial);
    assertSameBits(replayed, final, `replay of 50 steps on ${backend}`);
    const prefix = replayMezo(restored, initial, { steps: 20 });
    assertSameBits(prefix, at20!, `replay of 20 steps on ${backend}`);
    const fresh = (p: Params) => Object.entries(p).filter(([k]) => p[k] !== initial[k]).map(([, v]) => v);
    tf.dispose([...fresh(replayed), ...fresh(prefix)]);
    assert.equal(tf.memory().numTensors, before, "replay leaks");
  }
  assert.throws(() => replayMezo(restored, initial, { steps: 51 }), RangeError);
  disposeTree(initial);
  disposeTree(gpt.params);
  tf.dispose([batch.x, batch.y]);
});

testOnBackends("weight decay shrinks weights and skips biases and norms (g = 0 isolates it)", () => {
  const gpt = tinyGpt(6);
  const snap = snapshot(gpt.params);
  const old = { ...gpt.params };
  const constant: MezoObjective = () => 1; // ℓ₊ = ℓ₋: g = 0, only the decay moves θ
  const step = mezo({ lr: 0.1, weightDecay: 0.5, objective: constant });
  const r = step.step(gpt, lmBatch(), step.init(gpt.params), { step: 0, seed: 0 });
  for (const [k, v] of Object.entries(r.params)) {
    const isDecayed = /\.w$|wte|wpe/.test(k);
    if (isDecayed) {
      const want = new Float32Array(snap.get(k)!.buffer).map((x) => Math.fround(Math.fround(1 - 0.1 * 0.5) * x));
      assert.deepEqual(v.dataSync(), want, k);
    } else {
      assert.deepEqual(bits(v), snap.get(k), `${k} must not be decayed`);
    }
    assert.ok(old[k].isDisposed, `${k}: the step frees the tensor it replaced`);
  }
  disposeTree(r.params);
});

testOnBackends("subsets: params 'head' or { lastBlocks } update only those; on a LoRA model only the adapters", () => {
  const batch = lmBatch();
  for (const [sel, pick] of [["head", /^head\./], [{ lastBlocks: 1 }, /^blocks\.1\./]] as const) {
    const gpt = tinyGpt(7);
    const snap = snapshot(gpt.params);
    const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-2, params: sel }) });
    for (let i = 0; i < 3; i++) trainer.step(batch);
    trainer.dispose();
    for (const [k, v] of Object.entries(gpt.params)) {
      if (pick.test(k) && !/\.b$/.test(k)) assert.notDeepEqual(bits(v), snap.get(k), `${k} should change`);
      if (!pick.test(k)) assert.deepEqual(bits(v), snap.get(k), `${k} should not change`);
    }
    disposeTree(gpt.params);
  }
  const lora = withLora(tinyGpt(8), { rank: 2 });
  const base = Object.entries(lora.params).filter(([k]) => !isLoraParam(k));
  const baseBits = new Map(base.map(([k, v]) => [k, bits(v)]));
  const log = new MezoLog();
  const trainer = new Trainer(lora, { step: mezo({ lr: 1e-2, eps: 1e-2, log }) });
  for (let i = 0; i < 3; i++) trainer.step(batch);
  trainer.dispose();
  assert.ok(log.config!.names.every(isLoraParam) && log.config!.names.length === 4 * 2);
  for (const [k, v] of base) assert.ok(lora.params[k] === v && !v.isDisposed, `${k} replaced`);
  for (const [k, v] of base) assert.deepEqual(bits(v), baseBits.get(k), k);
  assert.notDeepEqual(bits(lora.params["blocks.0.attn.qkv.lora_b"]), new Uint32Array(2 * 192));
  disposeTree(lora.params);
  tf.dispose([batch.x, batch.y]);
});

testOnBackends("MeZO's step peak is inference's plus a parameter tensor, far below AdamW's; no leaks", () => {
  const gpt = tinyGpt(9);
  const batch = { x: tf.zeros([8, 8], "int32"), y: tf.ones([8, 8], "int32") };
  const largest = Math.max(...Object.values(gpt.params).map((t) => 4 * t.size));
  const m = meter();
  m.resetPeak();
  let base = m.live;
  forwardLoss(gpt, batch);
  const inference = m.peak - base;
  const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-3, n: 2 }) });
  trainer.step(batch);
  const before = tf.memory().numTensors;
  m.resetPeak();
  base = m.live;
  trainer.step(batch);
  const mezoPeak = m.peak - base;
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  trainer.dispose();
  assert.ok(mezoPeak <= inference + 2 * largest, `MeZO peak +${mezoPeak} vs inference +${inference} + 2x${largest}`);
  const adam = new Trainer(gpt, { optimizer: adamw({ lr: 1e-3 }) });
  adam.step(batch);
  m.resetPeak();
  base = m.live;
  adam.step(batch);
  const adamPeak = m.peak - base;
  adam.dispose();
  assert.ok(2 * mezoPeak < adamPeak, `MeZO +${mezoPeak} vs AdamW +${adamPeak}`);
  disposeTree(gpt.params);
  tf.dispose([batch.x, batch.y]);
});

testOnBackends(
  "a non-differentiable objective (error rate) trains; a non-finite objective throws, changing nothing",
  () => {
    const gpt = tinyGpt(10);
    const batch = lmBatch();
    const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-2, objective: errorRateObjective, eps: 1e-2 }) });
    const r = trainer.step(batch);
    assert.ok(r.loss >= 0 && r.loss <= 1);
    trainer.dispose();
    const params = { ...gpt.params };
    const nan = new Trainer(gpt, { step: mezo({ lr: 1e-2, objective: () => NaN }) });
    const before = tf.memory().numTensors;
    assert.throws(() => nan.step(batch), /Cannot take a MeZO step: the objective is NaN/);
    assert.equal(tf.memory().numTensors, before, "tensor leak");
    for (const [k, v] of Object.entries(params)) assert.ok(gpt.params[k] === v && !v.isDisposed, k);
    nan.dispose();
    disposeTree(gpt.params);
    tf.dispose([batch.x, batch.y]);
  },
);

Deno.test("mezo: clear errors for eps <= 0, n < 1, negative lr or decay, and a selection that picks nothing", () => {
  const bad: [Partial<MezoOptions>, RegExp][] = [
    [{ eps: 0 }, /'eps' must be a finite number > 0: current value is 0/],
    [{ eps: -1e-3 }, /'eps'.*-0\.001/],
    [{ n: 0 }, /'n' must be an integer >= 1: current value is 0/],
    [{ n: 1.5 }, /'n'.*1\.5/],
    [{ lr: -1 }, /'lr'.*-1/],
    [{ weightDecay: -0.1 }, /'weightDecay'.*-0\.1/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => mezo({ lr: 1e-3, ...o }), (e: Error) => e instanceof RangeError && re.test(e.message));
  }
  const gpt = tinyGpt();
  assert.throws(
    () => new Trainer(gpt, { step: mezo({ lr: 1e-3, params: "blocks.7" }) }),
    (e: Error) => e instanceof RangeError && /picks none of the .* trainable parameters.*"blocks\.7"/.test(e.message),
  );
  assert.throws(() => new Trainer(gpt, { step: mezo({ lr: 1e-3, params: { lastBlocks: 0 } }) }), RangeError);
  disposeTree(gpt.params);
});
