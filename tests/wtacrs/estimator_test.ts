import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { adaptiveWinnerCount, rowBudget, sampleRows } from "../../lib/wtacrs/estimator.ts";
import { exact, heavyTailed, monteCarlo, rowWeights } from "./_mc.ts";

const DRAWS = 20000;

Deno.test("WTA-CRS and CRS are unbiased: the Monte-Carlo mean is within 4 standard errors of Xᵀ·dY", () => {
  const p = heavyTailed(7);
  const truth = exact(p);
  for (
    const [estimator, weights] of [
      ["wta-crs", rowWeights(p)],
      ["crs", rowWeights(p)],
      ["wta-crs", rowWeights(p, false)], // ‖x‖ alone (no cached gradient norms): still unbiased
    ] as const
  ) {
    const s = monteCarlo(p, weights, 12, estimator, DRAWS);
    for (let j = 0; j < truth.length; j++) {
      const z = Math.abs(s.mean[j] - truth[j]) / s.se[j];
      assert.ok(z < 4, `${estimator}: entry ${j}: mean ${s.mean[j]} vs exact ${truth[j]} (${z.toFixed(2)} s.e.)`);
    }
  }
});

Deno.test("the deterministic top-k control (no reweighting) is detected as biased", () => {
  const p = heavyTailed(7);
  const truth = exact(p);
  const s = monteCarlo(p, rowWeights(p), 12, "top-k", 10);
  assert.ok(s.totalVariance < 1e-9, `top-k varies: ${s.totalVariance}`); // deterministic
  const norm = Math.hypot(...truth);
  const bias = Math.hypot(...s.mean.map((m, j) => m - truth[j]));
  assert.ok(bias > 0.05 * norm, `top-k bias ${bias} vs ‖G‖ ${norm}`);
  // For comparison, WTA-CRS's Monte-Carlo mean error at the same budget is far below it.
  const w = monteCarlo(p, rowWeights(p), 12, "wta-crs", DRAWS);
  const wBias = Math.hypot(...w.mean.map((m, j) => m - truth[j]));
  assert.ok(wBias < bias / 5, `wta-crs mean error ${wBias} vs top-k bias ${bias}`);
});

Deno.test("WTA-CRS has a lower variance than CRS when the adaptive winner set is non-empty", () => {
  const p = heavyTailed(7);
  const w = rowWeights(p);
  for (const k of [8, 12, 16]) {
    const wta = monteCarlo(p, w, k, "wta-crs", DRAWS), crs = monteCarlo(p, w, k, "crs", DRAWS);
    assert.ok(wta.winners > 0, `k=${k}: the adaptive rule picked no winner`);
    assert.ok(
      wta.totalVariance < crs.totalVariance,
      `k=${k}: WTA-CRS variance ${wta.totalVariance} vs CRS ${crs.totalVariance}`,
    );
  }
});

Deno.test("with flat weights the adaptive rule picks no winner and WTA-CRS draws exactly as CRS", () => {
  const flat = new Float64Array(30).fill(1);
  assert.equal(adaptiveWinnerCount(flat, 30, 9), 0);
  const a = sampleRows(flat, 9, "wta-crs", new Rng(3)), b = sampleRows(flat, 9, "crs", new Rng(3));
  assert.deepEqual(a, b);
  assert.equal(a.winners, 0);
  for (const s of a.scales) assert.ok(Math.abs(s - 30 / 9) < 1e-5); // 1 / (k·p) with p = 1/30
});

Deno.test("adaptiveWinnerCount follows the score rule (1 − S_c)/(k − c) against 1/k", () => {
  // k = 3, weights [8, 1, 1, 1, 1] (total 12): score(1) = (4/12)/2 = 1/6, score(2) = (3/12)/1 = 1/4; min 1/6 < 1/3.
  assert.equal(adaptiveWinnerCount([8, 1, 1, 1, 1], 12, 3), 1);
  // [5, 4, 1, 1, 1] (12), k = 3: score(1) = (7/12)/2 = 0.29, score(2) = (3/12)/1 = 0.25 → 2.
  assert.equal(adaptiveWinnerCount([5, 4, 1, 1, 1], 12, 3), 2);
  assert.equal(adaptiveWinnerCount([5, 4, 1, 1, 1], 12, 1), 0); // one draw: nothing to split
});

Deno.test("WTA-CRS keeps the winners with weight 1 and reweights the residual draws by (1 − P_C)/(s·p_j)", () => {
  const w = [9, 1, 2, 1, 1, 3, 1, 1, 1, 1]; // total 21
  const s = sampleRows(w, 4, "wta-crs", new Rng(5));
  assert.ok(s.winners >= 1);
  const winnerSet = [0, 5, 2].slice(0, s.winners); // the most probable rows, in order
  let sampled = 0;
  for (let t = 0; t < s.indices.length; t++) {
    const i = s.indices[t];
    if (winnerSet.includes(i) && s.scales[t] === 1) continue;
    sampled++;
    const residual = 21 - winnerSet.reduce((a, j) => a + w[j], 0);
    assert.ok(!winnerSet.includes(i), `row ${i} drawn although it is a winner`);
    assert.ok(Math.abs(s.scales[t] - residual / ((4 - s.winners) * w[i])) < 1e-6, `scale of row ${i}`);
  }
  assert.equal(sampled, 4 - s.winners);
  assert.deepEqual([...s.indices], [...s.indices].sort((a, b) => a - b));
});

Deno.test("rows of weight 0 are never kept; with at most k positive rows the sample is exact", () => {
  const w = new Float64Array(50);
  for (const i of [3, 9, 17, 40]) w[i] = i;
  const s = sampleRows(w, 10, "wta-crs", new Rng(0));
  assert.equal(s.exact, true);
  assert.deepEqual([...s.indices], [3, 9, 17, 40]);
  assert.deepEqual([...s.scales], [1, 1, 1, 1]);
  const many = new Float64Array(50).map((_, i) => (i % 2 ? 1 + (i % 5) : 0));
  for (let seed = 0; seed < 20; seed++) {
    for (const e of ["wta-crs", "crs", "top-k"] as const) {
      const r = sampleRows(many, 10, e, new Rng(seed));
      assert.equal(r.indices.length, 10);
      for (const i of r.indices) assert.ok(many[i] > 0, `${e}: kept row ${i} of weight 0`);
    }
  }
});

Deno.test("rowBudget is clamp(floor(ratio·n), minK, n)", () => {
  assert.equal(rowBudget(4096, 0.3, 10), 1228);
  assert.equal(rowBudget(4096, 0.1, 10), 409);
  assert.equal(rowBudget(100, 0.29, 1), 29);
  assert.equal(rowBudget(20, 0.1, 10), 10);
  assert.equal(rowBudget(8, 0.1, 10), 8);
  assert.equal(rowBudget(64, 1, 10), 64);
});

Deno.test("sampleRows rejects bad budgets and weights with a RangeError naming the value", () => {
  assert.throws(
    () => sampleRows([1, 2], 0, "crs", new Rng(0)),
    /'k' must be an integer in \[1, 2\]: current value is 0/,
  );
  assert.throws(() => sampleRows([1, 2], 3, "crs", new Rng(0)), RangeError);
  assert.throws(() => sampleRows([1, -1], 1, "crs", new Rng(0)), /current value at row 1 is -1/);
  assert.throws(() => sampleRows([1, NaN], 1, "crs", new Rng(0)), /current value at row 1 is NaN/);
});
