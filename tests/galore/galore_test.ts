import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import {
  galore,
  projectionSide,
  type RefreshEvent,
  scaleByGalore,
  type ScaleByGaloreState,
} from "../../lib/galore/galore.ts";
import { findLapack } from "../../lib/galore/lapack.ts";
import type { SubspaceFinder } from "../../lib/galore/subspace.ts";
import { disposeTree, type Params } from "../../lib/nn/params.ts";
import { scaleByAdam, type ScaleByAdamState, scaleByLearningRate } from "../../lib/optim/adam.ts";
import { applyUpdates } from "../../lib/optim/apply.ts";
import { warmupCosineSchedule } from "../../lib/optim/schedule.ts";
import { sgd } from "../../lib/optim/sgd.ts";
import { chain, disposeState, type GradientTransform, identity } from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { orthonormalityError } from "./_fixtures.ts";

const SHAPES: Record<string, number[]> = {
  "blocks.0.attn.qkv.w": [6, 10], // std: left, s = 6
  "blocks.0.mlp.fc2.w": [10, 6], // std: right, s = 6
  "blocks.0.mlp.fc2.b": [6], // 1-D: never projected
  "embed.wte": [5, 4], // not matched by the default pattern
};
const FULL_RANK = 6;

function makeParams(seed = 0): Params {
  const rng = new Rng(seed);
  return Object.fromEntries(
    Object.entries(SHAPES).map((
      [k, s],
    ) => [k, tf.tensor(rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b))), s)]),
  );
}

/** Deterministic "gradients" for step i (a fresh map; the caller disposes it). */
function gradsAt(i: number, shapes: Record<string, number[]> = SHAPES): Params {
  const rng = new Rng(1000 + i);
  return Object.fromEntries(
    Object.entries(shapes).map((
      [k, s],
    ) => [k, tf.tensor(rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b))), s)]),
  );
}

/** Runs `steps` updates with `gradsAt`; returns the flattened parameters after each step. */
function trajectory(opt: GradientTransform<unknown>, steps: number, seed = 0): Record<string, number[]>[] {
  let params = makeParams(seed);
  let state = opt.init(params);
  const out: Record<string, number[]>[] = [];
  for (let i = 0; i < steps; i++) {
    const grads = gradsAt(i);
    const { updates, state: next } = opt.update(grads, state, params);
    disposeTree(grads);
    disposeState(state);
    state = next;
    params = applyUpdates(params, updates);
    out.push(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v.dataSync())])));
  }
  disposeState(state);
  disposeTree(params);
  return out;
}

/** The identity in the projector layout (rank = the projected side): projection disabled. */
const identityFinder: SubspaceFinder = (g, rank, side) => {
  const [m, n] = g.shape;
  const rows = side === "left" ? m : rank, cols = side === "left" ? rank : n;
  const p = new Float32Array(rows * cols);
  for (let i = 0; i < Math.min(rows, cols); i++) p[i * cols + i] = 1;
  return p;
};

testOnBackends("identity projector + Adam equals Adam exactly (bit for bit, across refreshes)", () => {
  const lr = 0.01;
  const viaGalore = chain(
    scaleByGalore({ rank: FULL_RANK, scale: 1, updateProjGap: 2, svd: identityFinder }),
    scaleByLearningRate(lr),
  );
  const plain = chain(scaleByAdam(), scaleByLearningRate(lr));
  const a = trajectory(viaGalore, 5), b = trajectory(plain, 5);
  assert.deepEqual(a, b);
});

testOnBackends("full-rank projection + SGD equals SGD (P Pᵀ G = G)", () => {
  const lr = 0.1;
  const viaGalore = chain(
    scaleByGalore({ rank: FULL_RANK, scale: 1, updateProjGap: 2, base: identity(), svd: "auto" }),
    scaleByLearningRate(lr),
  );
  const a = trajectory(viaGalore, 5), b = trajectory(sgd({ lr }), 5);
  for (let i = 0; i < 5; i++) {
    for (const k of Object.keys(SHAPES)) assert.ok(maxRelError(a[i][k], b[i][k]) < 1e-5, `step ${i} ${k}`);
  }
});

testOnBackends("full-rank SVD + Adam differs from Adam (Adam in a rotated basis; guards against an identity)", () => {
  const lr = 0.01;
  for (const svd of ["auto", "randomized"] as const) {
    const viaGalore = chain(scaleByGalore({ rank: FULL_RANK, scale: 1, svd }), scaleByLearningRate(lr));
    const a = trajectory(viaGalore, 1), b = trajectory(chain(scaleByAdam(), scaleByLearningRate(lr)), 1);
    for (const k of ["blocks.0.attn.qkv.w", "blocks.0.mlp.fc2.w"]) {
      const diff = Math.max(...a[0][k].map((x, j) => Math.abs(x - b[0][k][j]))) / lr;
      assert.ok(diff > 0.5, `${svd} ${k}: max first-step difference ${diff} lr`);
    }
    // The unprojected parameters get plain Adam.
    assert.deepEqual(a[0]["embed.wte"], b[0]["embed.wte"]);
    assert.deepEqual(a[0]["blocks.0.mlp.fc2.b"], b[0]["blocks.0.mlp.fc2.b"]);
  }
});

testOnBackends("state: moments r × max(m, n), projector r × min(m, n), side stored per parameter", () => {
  const shapes: Record<string, number[]> = {
    "mlp.fc1.w": [16, 48],
    "mlp.fc2.w": [48, 16],
    "attn.proj.w": [16, 16],
    "mlp.fc1.b": [48],
  };
  const params = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, tf.zeros(s)]));
  const t = scaleByGalore({ rank: 4, svd: "randomized" });
  const s = t.init(params);
  const base = s.base as ScaleByAdamState;
  const expect: Record<string, { side: string; moment: number[]; p: number[] }> = {
    "mlp.fc1.w": { side: "left", moment: [4, 48], p: [16, 4] },
    "mlp.fc2.w": { side: "right", moment: [48, 4], p: [4, 16] },
    "attn.proj.w": { side: "right", moment: [16, 4], p: [4, 16] },
  };
  for (const [k, e] of Object.entries(expect)) {
    assert.equal(s.proj[k].side, e.side, k);
    assert.deepEqual(base.mu[k].shape, e.moment, k);
    assert.deepEqual(base.nu[k].shape, e.moment, k);
    assert.deepEqual(s.proj[k].p.shape, e.p, k);
    assert.equal(s.proj[k].refreshedAt, -1);
  }
  assert.deepEqual(Object.keys(s.proj).sort(), Object.keys(expect).sort());
  assert.deepEqual(base.mu["mlp.fc1.b"].shape, [48]);
  // After a step the shapes are the same (and the side did not change).
  const grads = Object.fromEntries(
    Object.entries(shapes).map(([k, sh], i) => [k, tf.randomNormal(sh, 0, 1, "float32", i)]),
  );
  const r = t.update(grads, s);
  for (const [k, e] of Object.entries(expect)) {
    assert.deepEqual((r.state.base as ScaleByAdamState).mu[k].shape, e.moment);
    assert.equal(r.state.proj[k].side, e.side);
    assert.equal(r.state.proj[k].refreshedAt, 0);
  }
  disposeState([params, s, grads, r]);
});

testOnBackends("refreshes happen exactly at steps 0, T, 2T, ... and P is constant in between", () => {
  const steps: number[] = [];
  const t = scaleByGalore({ rank: 3, updateProjGap: 3, svd: "auto", onRefresh: (e) => steps.push(e.step) });
  let params = makeParams();
  let state = t.init(params);
  const ps: number[][] = [];
  for (let i = 0; i < 8; i++) {
    const grads = gradsAt(i);
    const r = t.update(grads, state);
    disposeState([grads, state]);
    state = r.state;
    params = applyUpdates(params, r.updates);
    ps.push(Array.from(state.proj["blocks.0.attn.qkv.w"].p.dataSync()));
    assert.equal(state.proj["blocks.0.attn.qkv.w"].refreshedAt, Math.floor(i / 3) * 3);
  }
  assert.deepEqual(steps, [0, 3, 6]);
  for (let i = 1; i < 8; i++) {
    if (i % 3 === 0) assert.notDeepEqual(ps[i], ps[i - 1], `step ${i} should have a new P`);
    else assert.deepEqual(ps[i], ps[i - 1], `step ${i} must keep P`);
  }
  disposeState([state, params]);
});

testOnBackends("the projector is orthonormal and spans the top-r subspace of the gradient it came from", () => {
  // Gradient with a known top-2 left subspace: G = 5·u1 v1ᵀ + 3·u2 v2ᵀ + small noise.
  for (const svd of ["auto", "randomized"] as const) {
    const m = 12, n = 20;
    const rng = new Rng(4);
    const g = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        g[i * n + j] = (i === 0 ? 5 * Math.cos(j) : 0) + (i === 1 ? 3 * Math.sin(j) : 0) + 1e-3 * rng.normal();
      }
    }
    const params = { "mlp.w": tf.zeros([m, n]) };
    const t = scaleByGalore({ rank: 2, svd });
    const s0 = t.init(params);
    const grads = { "mlp.w": tf.tensor2d(g, [m, n]) };
    const r = t.update(grads, s0);
    const p = r.state.proj["mlp.w"].p.dataSync();
    assert.ok(orthonormalityError(p, m, 2) < 1e-5);
    // span(P) ≈ span(e1, e2): the rows 2.. of P are ~0.
    let outside = 0;
    for (let i = 2; i < m; i++) outside = Math.max(outside, Math.abs(p[i * 2]), Math.abs(p[i * 2 + 1]));
    assert.ok(outside < 1e-3, `${svd}: ${outside}`);
    disposeState([params, s0, grads, r]);
  }
});

testOnBackends("GaLore-AdamW converges on a quadratic (rank 2 of 8, refreshes every 10 steps)", () => {
  const target = tf.randomNormal([8, 16], 0, 1, "float32", 3);
  const targetB = tf.randomNormal([16], 0, 1, "float32", 4);
  let params: Params = { "mlp.w": tf.zeros([8, 16]), "mlp.b": tf.zeros([16]) };
  const loss = (p: Params) =>
    tf.tidy(() =>
      0.5 * (tf.sum(tf.square(tf.sub(p["mlp.w"], target))).dataSync()[0] +
        tf.sum(tf.square(tf.sub(p["mlp.b"], targetB))).dataSync()[0])
    );
  const steps = 300;
  const opt = galore({
    lr: warmupCosineSchedule({ peak: 0.3, warmupSteps: 5, totalSteps: steps, init: 0.03 }),
    rank: 2,
    updateProjGap: 10,
    scale: 1,
  });
  let state = opt.init(params);
  const loss0 = loss(params);
  for (let i = 0; i < steps; i++) {
    const grads = { "mlp.w": tf.sub(params["mlp.w"], target), "mlp.b": tf.sub(params["mlp.b"], targetB) };
    const r = opt.update(grads, state, params);
    disposeState([grads, state]);
    state = r.state;
    params = applyUpdates(params, r.updates);
  }
  const end = loss(params);
  assert.ok(end < loss0 / 100, `loss ${loss0} -> ${end}`);
  disposeState([state, params, target, targetB]);
});

testOnBackends("a gradient with NaN keeps the previous projector and says so once", () => {
  const warnings: string[] = [];
  const events: RefreshEvent[] = [];
  const t = scaleByGalore({
    rank: 2,
    updateProjGap: 1,
    svd: "auto",
    warn: (m) => warnings.push(m),
    onRefresh: (e) => events.push(e),
  });
  const params = makeParams();
  let state = t.init(params);
  const step = (grads: Params) => {
    const r = t.update(grads, state);
    disposeState([grads, state, r.updates]);
    state = r.state;
  };
  step(gradsAt(0));
  const p0 = Array.from(state.proj["blocks.0.attn.qkv.w"].p.dataSync());
  for (let i = 1; i <= 2; i++) {
    const grads = gradsAt(i);
    const bad = grads["blocks.0.attn.qkv.w"].bufferSync();
    bad.set(NaN, 1, 2);
    grads["blocks.0.attn.qkv.w"].dispose();
    grads["blocks.0.attn.qkv.w"] = bad.toTensor();
    step(grads);
    assert.deepEqual(Array.from(state.proj["blocks.0.attn.qkv.w"].p.dataSync()), p0);
    assert.equal(state.proj["blocks.0.attn.qkv.w"].refreshedAt, 0);
    assert.equal(state.proj["blocks.0.mlp.fc2.w"].refreshedAt, i, "the other weight still refreshes");
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /'blocks\.0\.attn\.qkv\.w' at step 1 failed \(the gradient is not finite\)/);
  assert.deepEqual(events.map((e) => e.kept.map((k) => k.name)), [[], ["blocks.0.attn.qkv.w"], [
    "blocks.0.attn.qkv.w",
  ]]);
  disposeState([state, params]);
});

testOnBackends(
  "a finder that fails (throws, returns undefined, NaN or the wrong size) keeps the previous projector",
  () => {
    for (
      const bad of [
        () => {
          throw new Error("boom");
        },
        () => undefined,
        (_g: tf.Tensor2D, rank: number) => new Float32Array(6 * rank).fill(NaN),
        () => new Float32Array(3),
      ] as SubspaceFinder[]
    ) {
      let calls = 0;
      const finder: SubspaceFinder = (g, rank, side, call) =>
        calls++ === 0 ? identityFinder(g, rank, side, call) : bad(g, rank, side, call);
      const warnings: string[] = [];
      const t = scaleByGalore({
        rank: 6,
        updateProjGap: 1,
        svd: finder,
        warn: (m) => warnings.push(m),
        include: (n) => n === "blocks.0.attn.qkv.w",
      });
      const params = makeParams();
      let state = t.init(params);
      for (let i = 0; i < 3; i++) {
        const grads = gradsAt(i);
        const r = t.update(grads, state);
        disposeState([grads, state, r.updates]);
        state = r.state;
      }
      assert.equal(state.proj["blocks.0.attn.qkv.w"].refreshedAt, 0);
      assert.equal(orthonormalityError(state.proj["blocks.0.attn.qkv.w"].p.dataSync(), 6, 6), 0);
      assert.equal(warnings.length, 1);
      disposeState([state, params]);
    }
  },
);

testOnBackends("no leaks over steps with refreshes, moment rotation, and a failing update", async () => {
  await assertNoLeaks(() => {
    for (const rotateMoments of [false, true]) {
      trajectory(galore({ lr: 0.01, rank: 3, updateProjGap: 2, rotateMoments, weightDecay: 0.1 }), 5);
    }
    const t = scaleByGalore({ rank: 3 });
    const params = makeParams();
    const s = t.init(params);
    const grads = gradsAt(0);
    grads["embed.wte"].dispose();
    delete (grads as Record<string, tf.Tensor>)["embed.wte"];
    assert.throws(() => t.update(grads, s), TypeError); // the base (Adam) finds a key missing, after projecting
    disposeState([params, s, grads]);
  });
});

Deno.test("bad options give errors naming the option, the parameter and the value", () => {
  assert.throws(
    () => scaleByGalore({ rank: 0 }),
    (e) => e instanceof RangeError && /'rank' must be an integer >= 1: current value is 0/.test(e.message),
  );
  assert.throws(() => scaleByGalore({ rank: 2.5 }), RangeError);
  assert.throws(
    () => scaleByGalore({ updateProjGap: 0 }),
    (e) => e instanceof RangeError && /'updateProjGap' must be an integer >= 1: current value is 0/.test(e.message),
  );
  assert.throws(() => scaleByGalore({ scale: 0 }), /'scale' must be a positive number: current value is 0/);
  assert.throws(
    () => scaleByGalore({ projType: "full" as "std" }),
    /'projType' must be one of "std", "reverse_std", "left", "right": current value is "full"/,
  );
  assert.throws(() => scaleByGalore({ svd: "jacobi" as "auto" }), RangeError);
  assert.throws(() => scaleByGalore({ svd: 3 as unknown as "auto" }), TypeError);
  assert.throws(() => scaleByGalore({ include: "attn" as unknown as () => boolean }), TypeError);
  assert.throws(() => scaleByGalore({ base: {} as GradientTransform<unknown> }), TypeError);
  assert.throws(() => scaleByGalore({ powerIters: -1 }), /'powerIters' must be a non-negative integer/);
  const params = { "mlp.w": tf.zeros([16, 48]), "mlp.cube": tf.zeros([2, 2, 2]) };
  const before = tf.memory().numTensors;
  assert.throws(
    () => scaleByGalore({ rank: 20, include: (n) => n === "mlp.w" }).init(params),
    (e) =>
      e instanceof RangeError &&
      e.message.includes(
        "'rank' must be <= 16, the projected (left) side of parameter 'mlp.w' [16,48]: current value is 20",
      ),
  );
  assert.throws(
    () => scaleByGalore({ rank: 2, include: () => true }).init(params),
    /parameter 'mlp.cube' is selected but not 2-D/,
  );
  assert.throws(
    () => scaleByGalore({ rank: 2, base: identity(), rotateMoments: true, include: (n) => n === "mlp.w" }).init(params),
    /'rotateMoments' needs a base whose state has 'mu' and 'nu'/,
  );
  assert.throws(() => scaleByGalore({ rank: 2 }).update({}, {} as ScaleByGaloreState), /call init\(\) first/);
  assert.equal(tf.memory().numTensors, before, "failed inits leave nothing behind");
  disposeTree(params);
});

testOnBackends("the stored side is used for back-projection, also when the projected gradient is square", () => {
  // reverse_std on 8 × 4 projects the larger (left) side; at rank 4 the projected gradient PᵀG is 4 × 4.
  assert.equal(projectionSide([8, 4], "reverse_std"), "left");
  const t = scaleByGalore({ rank: 4, projType: "reverse_std", scale: 0.5, include: () => true, svd: "auto" });
  const params = { "w": tf.zeros([8, 4]) };
  const s0 = t.init(params);
  assert.equal(s0.proj.w.side, "left");
  const grads = { "w": tf.randomNormal([8, 4], 0, 1, "float32", 8) };
  const r = t.update(grads, s0);
  const p = r.state.proj.w.p;
  assert.deepEqual(p.shape, [8, 4]);
  // Adam's first step is sign(R) (up to eps): the update is 0.5 · P · sign(PᵀG).
  const expected = tf.tidy(() => tf.mul(tf.matMul(p, tf.sign(tf.matMul(p, grads.w, true, false))), 0.5));
  assertAllClose(r.updates.w, expected, { atol: 1e-5 });
  disposeState([params, s0, grads, r, expected]);
});

testOnBackends(
  "scale α multiplies only the projected-back update; weight decay acts on the full weight, unscaled",
  () => {
    const params = makeParams();
    const zero = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.zerosLike(v)]));
    const opt = galore({ lr: 0.1, weightDecay: 0.5, scale: 0.25, rank: 2 });
    const s = opt.init(params);
    const r = opt.update(zero, s, params); // Adam of a zero gradient is 0: only the decay remains
    assertAllClose(r.updates["blocks.0.attn.qkv.w"], tf.mul(params["blocks.0.attn.qkv.w"], -0.05), { atol: 1e-7 });
    assertAllClose(r.updates["blocks.0.mlp.fc2.b"], tf.zeros([6]), { atol: 0 }); // biases are not decayed
    disposeState([params, zero, s, r]);
    // The unprojected parameters get the base update as is (not × α).
    const t = scaleByGalore({ rank: 2, scale: 0.25 });
    const p2 = makeParams(), g = gradsAt(0);
    const s2 = t.init(p2);
    const r2 = t.update(g, s2);
    const adam = scaleByAdam();
    const sa = adam.init({ "embed.wte": p2["embed.wte"] });
    const ra = adam.update({ "embed.wte": g["embed.wte"] }, sa);
    assert.deepEqual(Array.from(r2.updates["embed.wte"].dataSync()), Array.from(ra.updates["embed.wte"].dataSync()));
    disposeState([p2, g, s2, r2, sa, ra]);
  },
);

testOnBackends("rotateMoments carries the moments into a re-ordered basis exactly (signed permutation)", () => {
  // The finder returns P0 at step 0 and P0 with columns permuted and one sign flipped at step 2: the same subspace.
  // With rotation the updates equal those of a run whose projector never changed; without, they differ.
  const rank = 3;
  const make = (permute: boolean, rotateMoments: boolean) => {
    let p0: Float32Array | undefined;
    const finder: SubspaceFinder = (g, r, _side, call) => {
      const m = g.shape[0];
      p0 ??= gramSchmidt(new Rng(7).fillNormal(new Float32Array(m * r)), m, r);
      if (!permute || call.step === 0) return p0.slice();
      const out = new Float32Array(m * r);
      const perm = [2, 0, 1], sign = [1, -1, 1];
      for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) out[i * r + j] = sign[j] * p0[i * r + perm[j]];
      return out;
    };
    return chain(
      scaleByGalore({
        rank,
        updateProjGap: 2,
        svd: finder,
        rotateMoments,
        include: (n) => n === "blocks.0.attn.qkv.w",
      }),
      scaleByLearningRate(0.01),
    );
  };
  const same = trajectory(make(false, false), 5);
  const rotated = trajectory(make(true, true), 5);
  const unrotated = trajectory(make(true, false), 5);
  const k = "blocks.0.attn.qkv.w";
  for (let i = 0; i < 5; i++) assert.ok(maxRelError(rotated[i][k], same[i][k]) < 1e-6, `step ${i}`);
  for (const i of [2, 3, 4]) {
    assert.ok(maxRelError(unrotated[i][k], same[i][k]) > 1e-3, `step ${i}: without rotation the moments are stale`);
  }
});

/** Orthonormal columns for an m × r matrix (Gram-Schmidt in Float64), as Float32. */
function gramSchmidt(a: Float32Array, m: number, r: number): Float32Array {
  const q = Float64Array.from(a);
  for (let j = 0; j < r; j++) {
    for (let c = 0; c < j; c++) {
      let d = 0;
      for (let i = 0; i < m; i++) d += q[i * r + j] * q[i * r + c];
      for (let i = 0; i < m; i++) q[i * r + j] -= d * q[i * r + c];
    }
    let n = 0;
    for (let i = 0; i < m; i++) n += q[i * r + j] ** 2;
    for (let i = 0; i < m; i++) q[i * r + j] /= Math.sqrt(n);
  }
  return Float32Array.from(q);
}

Deno.test({
  name: "svd: 'auto' reports LAPACK when it loads; galore() exposes it",
  fn() {
    const opt = galore({ lr: 0.01 });
    assert.equal(opt.svd.method, findLapack().lib ? "lapack" : "randomized");
    assert.equal(galore({ lr: 0.01, svd: "randomized" }).svd.method, "randomized");
  },
});
