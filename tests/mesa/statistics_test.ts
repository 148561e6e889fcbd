/**
 * Mesa's stochastic rounding, tested as statistics over all elements and draws together, for every implementation
 * (stock op chain, fused JS loops, SIMD loops): unbiased to well below 1% of a step, and independent across packs.
 *
 * For an element at `β + (k + f)·Δ` stochastic rounding gives `k + 1` with probability `f`, so the rounding error in
 * steps, `e = (x̂ − x)/Δ`, has mean 0 and variance `f·(1 − f)` exactly; the tests compare with those known moments.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import type { SavedInfo } from "../../lib/nn/policy.ts";
import { mesaPolicy } from "../../lib/mesa/policy.ts";
import { dequantize, groupLayout, quantizeBytes } from "../../lib/mesa/quantize.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnImplementations } from "../_util/implementations.ts";

const ROWS = 8, COLS = 512, GROUPS = 4;

/** With `MEMTRAIN_TEST_REPORT=1` the measured statistics are printed. */
const REPORT = Deno.env.get("MEMTRAIN_TEST_REPORT") === "1";
const ALPHA = [1, 0.5, 4, 2], BETA = [-0.5, 0, -2, 3];

/**
 * Values inside each group's range, off the grid: `β_g + (k + f)·Δ_g` with `k` in [0, 254] and `f` in [0.05, 0.95],
 * laid out `[ROWS, COLS]` with {@linkcode GROUPS} contiguous column blocks. Also returns each element's `f` and `Δ`.
 */
function offGridValues(seed: number) {
  const rng = new Rng(seed);
  const n = ROWS * COLS, x = new Float32Array(n), delta = new Float64Array(n), frac = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.floor((i % COLS) / (COLS / GROUPS));
    delta[i] = ALPHA[g] / 255;
    x[i] = BETA[g] + (rng.int(255) + 0.05 + 0.9 * rng.uniform()) * delta[i];
    // the float32 value's own fractional position (what the quantizer sees)
    const pos = (x[i] - BETA[g]) / delta[i];
    frac[i] = pos - Math.floor(pos);
  }
  return { x, delta, frac };
}

/** The rounding errors in steps, `(x̂ − x)/Δ`, of one quantize/dequantize round trip. */
function errorsInSteps(xh: ArrayLike<number>, x: ArrayLike<number>, delta: ArrayLike<number>): Float64Array {
  return Float64Array.from(xh, (v, i) => (v - x[i]) / delta[i]);
}

testOnImplementations(
  "stochastic rounding is unbiased: the mean error over all elements and 64 draws is within 4.5 SE of 0",
  async () => {
    const { x: xs, delta, frac } = offGridValues(1);
    const x = tf.tensor2d(xs, [ROWS, COLS]), alpha = tf.tensor1d(ALPHA), beta = tf.tensor1d(BETA);
    const layout = groupLayout(x.shape, 1, { groups: GROUPS });
    const draws = 64;
    await assertNoLeaks(() => {
      let sum = 0;
      for (let s = 0; s < draws; s++) {
        const xh = tf.tidy(() =>
          dequantize(quantizeBytes(x, alpha, beta, layout, { seed: 1000 + s }), alpha, beta, layout)
        );
        const e = errorsInSteps(xh.dataSync(), xs, delta);
        xh.dispose();
        for (const v of e) {
          assert.ok(v > -1 && v < 1, `a rounding error of ${v} steps`);
          sum += v;
        }
      }
      const count = draws * xs.length;
      const variance = frac.reduce((a, f) => a + f * (1 - f), 0) / xs.length; // per sample
      const se = Math.sqrt(variance / count); // ≈ 8e-4 steps: a 1% bias (0.01 steps) is ~12 SE
      const mean = sum / count;
      if (REPORT) {
        console.log(`measured mean rounding error ${(mean / se).toFixed(2)} SE (SE ${se.toExponential(2)} steps)`);
      }
      assert.ok(
        Math.abs(mean) <= 4.5 * se,
        `mean rounding error ${mean.toExponential(3)} steps, SE ${se.toExponential(3)}`,
      );
    });
    tf.dispose([x, alpha, beta]);
  },
  { mesa: true },
);

/** Successive packs of one tag: `step` is the training step the pack belongs to (ignored where not yet used). */
function atStep(info: SavedInfo, step: number): SavedInfo {
  return { ...info, step } as SavedInfo;
}

testOnImplementations(
  "Mesa policy noise is independent across successive packs of one tag, and their average converges",
  async () => {
    const { x: xs } = offGridValues(2);
    const x = tf.tensor2d(xs, [ROWS, COLS]);
    const info: SavedInfo = { tag: "blocks.0.mlp.fc1.input", role: "linear.input", groupAxis: 1 };
    const policy = mesaPolicy({ grouping: { groups: GROUPS }, emaDecay: 0, seed: 5 });
    const packs = 64, n = xs.length;
    const groupOf = (i: number) => Math.floor((i % COLS) / (COLS / GROUPS));
    await assertNoLeaks(() => {
      const mean = new Float64Array(n);
      let previous: Float64Array | undefined;
      let frac: Float64Array | undefined;
      for (let k = 0; k < packs; k++) {
        const p = policy.pack(x, atStep(info, k));
        const xh = policy.unpack(p, atStep(info, k));
        // emaDecay 0: every pack uses this batch's own per-group range, the same each time.
        const [a, b] = [p.alpha.dataSync(), p.beta.dataSync()];
        const steps = Float64Array.from(xs, (_, i) => a[groupOf(i)] / 255);
        frac ??= Float64Array.from(xs, (v, i) => {
          const pos = (v - b[groupOf(i)]) / steps[i];
          return pos - Math.floor(pos);
        });
        const e = errorsInSteps(xh.dataSync(), xs, steps);
        xh.dispose();
        policy.dispose(p);
        e.forEach((v, i) => (mean[i] += v / packs));
        if (previous) {
          // Correlation of successive packs' rounding errors: ~N(0, 1/n) when independent, 1 when the noise repeats.
          let ab = 0, aa = 0, bb = 0;
          for (let i = 0; i < n; i++) [ab, aa, bb] = [ab + e[i] * previous[i], aa + e[i] ** 2, bb + previous[i] ** 2];
          const corr = ab / Math.sqrt(aa * bb);
          if (REPORT) console.log(`measured successive-pack correlation ${(corr * Math.sqrt(n)).toFixed(2)}/sqrt(n)`);
          assert.ok(
            Math.abs(corr) <= 4.5 / Math.sqrt(n),
            `packs ${k - 1} and ${k}: error correlation ${corr.toFixed(4)}`,
          );
        }
        previous = e;
      }
      // The average of `packs` independent roundings has mean-square error Σ f(1 − f)/(n·packs) (in steps²).
      const msExpected = frac!.reduce((s, f) => s + f * (1 - f), 0) / n / packs;
      const ms = mean.reduce((s, v) => s + v * v, 0) / n;
      policy.state.dispose();
      if (REPORT) console.log(`measured mean-square error of the average ${(ms / msExpected).toFixed(3)}x expected`);
      assert.ok(
        ms <= 1.5 * msExpected,
        `mean-square error of the average ${ms.toExponential(3)} vs ${msExpected.toExponential(3)}`,
      );
    });
    x.dispose();
  },
  { mesa: true },
);
