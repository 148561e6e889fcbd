/**
 * MeZO's z: the SIMD kernel and the stock path give the definition's bits (`axpzInto`) for every size and both
 * distributions; z is counter-based (an element's value does not depend on the tensor's size or other tensors);
 * the Gaussian has the moments of a standard normal within stated Monte-Carlo tolerances.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend/mod.ts";
import { axpz, axpzInto, gaussianAt, noiseKey, type NoiseKind, rademacherAt } from "../../lib/mezo/mod.ts";
import { mezoSimd } from "../../lib/mezo/simd.ts";
import { testOnBackends } from "../_util/backends.ts";

const SIZES = [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 100, 1000, 4099];
const KINDS: NoiseKind[] = ["gaussian", "rademacher"];

function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

testOnBackends("axpz gives the definition's bits for every size, both distributions and any a, c", () => {
  const before = tf.memory().numTensors;
  for (const kind of KINDS) {
    for (const n of SIZES) {
      const theta = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -0 : Math.sin(i) * 3 + 1e-3 * i));
      const t = tf.tensor1d(theta);
      for (const [a, c] of [[1, 1e-3], [1, -1e-3], [0.9999, -2.5e-4], [1, 0]]) {
        const key = noiseKey(n + 17, `w${n}`);
        const y = axpz(t, { a, c, key, kind });
        const ref = new Float32Array(n);
        axpzInto(ref, theta, a, c, key, kind);
        assert.deepEqual(bitsOf(y.dataSync() as Float32Array), bitsOf(ref), `${kind} n=${n} a=${a} c=${c}`);
        y.dispose();
      }
      t.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, before, "tensor leak");
});

Deno.test("the SIMD loops are compiled and used on wasm", async () => {
  await initBackend({ backend: "wasm" });
  assert.ok(mezoSimd(tf.backend() as never) !== null, "the MeZO SIMD module did not compile");
  assert.ok(axpz.active(), "the fused axpz kernel is not active on wasm");
});

Deno.test("z is counter-based: an element's value depends on (seed, name, index) only", () => {
  const key = noiseKey(3, "blocks.0.mlp.fc1.w");
  const long = new Float32Array(64), short = new Float32Array(13);
  axpzInto(long, new Float32Array(64), 1, 1, key, "gaussian");
  axpzInto(short, new Float32Array(13), 1, 1, key, "gaussian");
  assert.deepEqual(long.subarray(0, 13), short);
  for (let i = 0; i < 64; i++) assert.equal(long[i], gaussianAt(key, i));
  // A tail computed on its own equals the same elements of the whole.
  const tail = new Float32Array(64);
  axpzInto(tail, new Float32Array(64), 1, 1, key, "gaussian", 37, 64);
  assert.deepEqual(tail.subarray(37), long.subarray(37));
  // Other names and other seeds give other directions.
  assert.notEqual(gaussianAt(noiseKey(3, "blocks.0.mlp.fc2.w"), 0), long[0]);
  assert.notEqual(gaussianAt(noiseKey(4, "blocks.0.mlp.fc1.w"), 0), long[0]);
  for (let i = 0; i < 8; i++) assert.equal(Math.abs(rademacherAt(key, i)), 1);
});

Deno.test("the Gaussian z has mean 0, variance 1, no skew, kurtosis 3 and uncorrelated neighbours", () => {
  const n = 1 << 18;
  const z = new Float32Array(n);
  axpzInto(z, new Float32Array(n), 1, 1, noiseKey(11, "w"), "gaussian");
  let m1 = 0, m2 = 0, m3 = 0, m4 = 0, lag1 = 0, lag4 = 0, maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const v = z[i];
    m1 += v;
    m2 += v * v;
    m3 += v ** 3;
    m4 += v ** 4;
    maxAbs = Math.max(maxAbs, Math.abs(v));
    if (i + 1 < n) lag1 += v * z[i + 1];
    if (i + 4 < n) lag4 += v * z[i + 4]; // the cosine and sine of one pair
  }
  // Standard errors of the sample moments of N(0, 1): sqrt(Var/n) with Var = 1, 2, 15, 96 and 1 for the products.
  const se = (v: number) => Math.sqrt(v / n);
  assert.ok(Math.abs(m1 / n) < 4 * se(1), `mean ${m1 / n}`);
  assert.ok(Math.abs(m2 / n - 1) < 4 * se(2), `variance ${m2 / n}`);
  assert.ok(Math.abs(m3 / n) < 4 * se(15), `third moment ${m3 / n}`);
  assert.ok(Math.abs(m4 / n - 3) < 4 * se(96), `fourth moment ${m4 / n}`);
  assert.ok(Math.abs(lag1 / n) < 4 * se(1) && Math.abs(lag4 / n) < 4 * se(1), `correlations ${lag1 / n} ${lag4 / n}`);
  assert.ok(maxAbs <= 5.8, `|z| <= 5.77 by construction: ${maxAbs}`);
});
