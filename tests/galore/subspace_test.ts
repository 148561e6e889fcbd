import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { symmetricEigen } from "../../lib/galore/eigh.ts";
import { findLapack, lapackSubspace, type Side } from "../../lib/galore/lapack.ts";
import { householderQ } from "../../lib/galore/qr.ts";
import { randomizedSubspace } from "../../lib/galore/randomized.ts";
import { resolveSvd } from "../../lib/galore/subspace.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { firstColumns, knownSpectrum, orthonormalityError, subspaceDistance, transpose } from "./_fixtures.ts";

const LAPACK = findLapack().lib;
const noLapack = LAPACK === undefined;

// A spectrum with a clear gap after the 4th value, and a tail.
const SPECTRUM = [10, 8, 6, 5, 1, 0.8, 0.5, 0.3, 0.2, 0.1];

/** The projector as `s × r` columns (the left layout), whatever the side. */
function asColumns(p: ArrayLike<number>, side: Side, s: number, r: number): ArrayLike<number> {
  return side === "left" ? p : transpose(p, r, s);
}

Deno.test("householderQ gives orthonormal columns spanning the input's, also for rank-deficient input", () => {
  const rng = new Rng(3);
  const a = rng.fillNormal(new Float64Array(40 * 6));
  const q = householderQ(a, 40, 6);
  assert.ok(orthonormalityError(q, 40, 6) < 1e-13);
  // Each input column is in span(Q): its residual after projection is ~0.
  for (let j = 0; j < 6; j++) {
    let res = 0, norm = 0;
    const coef = new Float64Array(6);
    for (let c = 0; c < 6; c++) for (let i = 0; i < 40; i++) coef[c] += q[i * 6 + c] * a[i * 6 + j];
    for (let i = 0; i < 40; i++) {
      let proj = 0;
      for (let c = 0; c < 6; c++) proj += q[i * 6 + c] * coef[c];
      res += (a[i * 6 + j] - proj) ** 2;
      norm += a[i * 6 + j] ** 2;
    }
    assert.ok(Math.sqrt(res / norm) < 1e-13, `column ${j}: residual ${res}`);
  }
  // Rank-deficient: two equal columns and a zero column still give an orthonormal Q.
  const b = new Float64Array(5 * 3);
  for (let i = 0; i < 5; i++) b[i * 3] = b[i * 3 + 1] = i + 1;
  assert.ok(orthonormalityError(householderQ(b, 5, 3), 5, 3) < 1e-13);
  assert.ok(orthonormalityError(householderQ(new Float64Array(12), 4, 3), 4, 3) < 1e-15);
  assert.throws(() => householderQ(a, 4, 6), /'cols' must be an integer in \[1, rows = 4\]: current value is 6/);
});

Deno.test("symmetricEigen diagonalizes: A V = V Λ, V orthonormal, values sorted descending", () => {
  const n = 30;
  const rng = new Rng(5);
  const x = rng.fillNormal(new Float64Array(n * n));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = x[i * n + j] + x[j * n + i];
  const { values, vectors } = symmetricEigen(a, n);
  assert.ok(orthonormalityError(vectors, n, n) < 1e-12);
  for (let i = 1; i < n; i++) assert.ok(values[i - 1] >= values[i]);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[k * n + j];
      worst = Math.max(worst, Math.abs(av - vectors[i * n + j] * values[j]));
    }
  }
  assert.ok(worst < 1e-11, `residual ${worst}`);
  let trace = 0, sum = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i];
  for (const v of values) sum += v;
  assert.ok(Math.abs(trace - sum) < 1e-10);
});

for (const [m, n] of [[24, 40], [40, 24], [20, 20]] as const) {
  for (const side of ["left", "right"] as const) {
    const s = side === "left" ? m : n;
    const { a, u, v } = knownSpectrum(m, n, SPECTRUM, 11 + m + n);
    const want = firstColumns(side === "left" ? u : v, s, SPECTRUM.length, 4);

    for (const driver of ["gesdd", "gesvd"] as const) {
      Deno.test({
        name:
          `LAPACK ${driver}: the ${side} projector of a ${m}x${n} matrix is orthonormal and spans the top-4 subspace`,
        ignore: noLapack,
        fn() {
          const r = lapackSubspace(LAPACK!, a, m, n, 4, side, driver);
          assert.equal(r.info, 0);
          const cols = asColumns(r.p!, side, s, 4);
          assert.ok(orthonormalityError(cols, s, 4) < 1e-5);
          assert.ok(subspaceDistance(cols, want, s, 4) < 1e-5, `distance ${subspaceDistance(cols, want, s, 4)}`);
          for (let i = 0; i < SPECTRUM.length; i++) assert.ok(Math.abs(r.s![i] - SPECTRUM[i]) < 1e-4);
          for (let i = SPECTRUM.length; i < Math.min(m, n); i++) assert.ok(Math.abs(r.s![i]) < 1e-4);
        },
      });
    }

    testOnBackends(
      `randomized: the ${side} projector of a ${m}x${n} matrix is orthonormal and spans the top-4 subspace`,
      () => {
        const g = tf.tensor2d(a, [m, n]);
        const p = randomizedSubspace(g, 4, side, { oversample: 4, powerIters: 2, rng: new Rng(1) });
        g.dispose();
        const cols = asColumns(p, side, s, 4);
        assert.ok(orthonormalityError(cols, s, 4) < 1e-5);
        // With k = 8 sampled directions and q = 2: error ~ (σ9/σ4)^(2q+1) = (0.2/5)^5 ≈ 1e-7, plus float32 rounding.
        assert.ok(subspaceDistance(cols, want, s, 4) < 1e-5, `distance ${subspaceDistance(cols, want, s, 4)}`);
      },
    );
  }
}

testOnBackends("randomized at full rank is exact whatever the seed (k = the side's size)", () => {
  const { a, u } = knownSpectrum(12, 30, [5, 4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01], 2);
  const g = tf.tensor2d(a, [12, 30]);
  for (const seed of [1, 2]) {
    const p = randomizedSubspace(g, 12, "left", { rng: new Rng(seed), powerIters: 0 });
    assert.ok(orthonormalityError(p, 12, 12) < 1e-5);
    // Each column matches a singular vector up to sign (a basis, not only a subspace, since the spectrum is simple).
    for (let j = 0; j < 6; j++) {
      let dot = 0;
      for (let i = 0; i < 12; i++) dot += p[i * 12 + j] * u[i * 12 + j];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-4, `vector ${j}: |dot| ${Math.abs(dot)}`);
    }
  }
  g.dispose();
});

testOnBackends("randomizedSubspace leaks no tensors and checks its arguments", async () => {
  const g = tf.randomNormal([16, 24], 0, 1, "float32", 4);
  await assertNoLeaks(() => {
    randomizedSubspace(g, 3, "left");
    randomizedSubspace(g, 3, "right", { powerIters: 0, oversample: 0 });
  });
  assert.throws(() => randomizedSubspace(g, 17, "left"), /'rank' must be an integer in \[1, 16\]: current value is 17/);
  assert.throws(() => randomizedSubspace(g, 2, "left", { powerIters: -1 }), /'powerIters'/);
  assert.throws(() => randomizedSubspace(tf.zeros([3]), 1, "left"), /must be 2-D/);
  g.dispose();
});

Deno.test({
  name: "LAPACK and the randomized fallback agree on the subspace of a gradient-like matrix (decaying spectrum)",
  ignore: noLapack,
  fn: async () => {
    await tf.setBackend("cpu");
    const m = 48, n = 96, r = 8;
    const spectrum = Array.from({ length: 48 }, (_, i) => 10 * 0.8 ** i);
    const { a } = knownSpectrum(m, n, spectrum, 21);
    const g = tf.tensor2d(a, [m, n]);
    for (const side of ["left", "right"] as const) {
      const s = side === "left" ? m : n;
      const lapack = asColumns(lapackSubspace(LAPACK!, a, m, n, r, side, "gesdd").p!, side, s, r);
      const rand = asColumns(
        randomizedSubspace(g, r, side, { oversample: 8, powerIters: 3, rng: new Rng(9) }),
        side,
        s,
        r,
      );
      const d = subspaceDistance(lapack, rand, s, r);
      // (σ_{r+k+1}/σ_r)^(2q+1) with k = 8, q = 3: 0.8^63 ≈ 8e-7; float32 rounding adds ~1e-6.
      assert.ok(d < 1e-4, `${side}: distance ${d}`);
    }
    g.dispose();
  },
});

Deno.test("resolveSvd: auto reports what it uses; explicit names and bad names", () => {
  const auto = resolveSvd("auto");
  assert.equal(auto.method, noLapack ? "randomized" : "lapack");
  if (!noLapack) assert.match(auto.detail, /^LAPACK sgesdd from /);
  assert.equal(resolveSvd("randomized").method, "randomized");
  assert.equal(resolveSvd(() => undefined).method, "custom");
  assert.throws(() => resolveSvd("jacobi" as "auto"), /'svd' must be "auto", "lapack", "randomized" or a function/);
  assert.throws(() => resolveSvd("lapack", { lapackPath: "/nonexistent/liblapack.so" }), /no LAPACK library loads/);
  const fallback = resolveSvd("auto", { lapackPath: "/nonexistent/liblapack.so" });
  assert.equal(fallback.method, "randomized");
  assert.match(fallback.detail, /LAPACK not loaded \(1 candidates: not found\)/);
});
