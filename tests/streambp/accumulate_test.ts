/**
 * The in-place gradient accumulation: the fused kernel equals the stock `tf.add` bit for bit, adds into the sum's own
 * buffer when nothing else shares it (no new buffer, by the meter), and leaves a shared buffer alone.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend, setFusedKernels } from "../../lib/backend/mod.ts";
import { meter } from "../../lib/memory/mod.ts";
import { accumulate, ACCUMULATE_KERNEL, matMulAccumulate, mergeGrads } from "../../lib/streambp/accumulate.ts";
import { TEST_BACKENDS, testOnBackends } from "../_util/backends.ts";

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

testOnBackends("accumulate(acc, g) equals tf.add bit for bit, fused and stock", (backend) => {
  const a = tf.randomNormal([37, 5], 0, 1, "float32", 1), g = tf.randomNormal([37, 5], 0, 1e-3, "float32", 2);
  const want = bits(tf.add(a, g));
  for (const fused of backend === "cpu" ? [false] : [true, false]) {
    const was = setFusedKernels(fused, "streambp");
    try {
      const acc = a.clone(); // shares a's buffer: the fused kernel must not write into it
      const aBefore = bits(a);
      const sum = accumulate(acc, g);
      acc.dispose();
      assert.deepEqual(bits(sum), want, `fused ${fused}`);
      assert.deepEqual(bits(a), aBefore, `fused ${fused}: a shared buffer is left unchanged`);
      sum.dispose();
    } finally {
      setFusedKernels(was, "streambp");
    }
  }
  tf.dispose([a, g]);
});

for (const backend of TEST_BACKENDS.filter((b) => b !== "cpu")) { // the cpu backend runs the stock tf.add
  Deno.test(`the sum goes into acc's own buffer when nothing shares it (no new buffer) [${backend}]`, async () => {
    await initBackend({ backend });
    const m = meter();
    const acc = tf.tidy(() => tf.randomNormal([1000], 0, 1, "float32", 3).mul(1));
    const g = tf.randomNormal([1000], 0, 1, "float32", 4);
    const want = bits(tf.tidy(() => tf.add(acc, g)));
    const live = m.live;
    m.resetPeak();
    const sum = accumulate(acc, g);
    assert.equal(m.peak, live, "no buffer was allocated");
    acc.dispose();
    assert.deepEqual(bits(sum), want);
    assert.equal(m.live, live, "the result holds acc's buffer");
    tf.dispose([sum, g]);
    assert.ok(tf.getKernel(ACCUMULATE_KERNEL, "wasm"), "the kernel is registered");
  });
}

testOnBackends("mergeGrads adds into existing sums, takes over new ones, and leaks nothing", () => {
  const before = tf.memory().numTensors;
  const into = { w: tf.tensor1d([1, 2]) };
  mergeGrads(into, { w: tf.tensor1d([10, 20]), b: tf.tensor1d([5]) });
  mergeGrads(into, { w: tf.tensor1d([100, 200]) });
  assert.deepEqual(Array.from(into.w.dataSync()), [111, 222]);
  assert.deepEqual(Array.from((into as Record<string, tf.Tensor>).b.dataSync()), [5]);
  tf.dispose(Object.values(into));
  assert.equal(tf.memory().numTensors, before);
});

testOnBackends(
  "matMulAccumulate(acc, a, b) equals acc + op(a)·op(b), fused and stock, for every transpose",
  (backend) => {
    const acc0 = tf.randomNormal([6, 5], 0, 1, "float32", 5);
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = tf.randomNormal(tA ? [7, 6] : [6, 7], 0, 1, "float32", 6);
      const b = tf.randomNormal(tB ? [5, 7] : [7, 5], 0, 1, "float32", 7);
      const want = tf.tidy(() => tf.add(acc0, tf.matMul(a, b, tA, tB)));
      for (const fused of backend === "blas" ? [true, false] : [false]) {
        const was = setFusedKernels(fused, "streambp");
        try {
          const acc = acc0.clone(); // shared with acc0: must not be written into
          const before = bits(acc0);
          const sum = matMulAccumulate(acc, a, b, tA, tB);
          acc.dispose();
          const e = tf.tidy(() => tf.max(tf.abs(tf.sub(sum, want))).dataSync()[0]);
          assert.ok(e <= 1e-5, `${backend} fused ${fused} tA ${tA} tB ${tB}: ${e}`);
          assert.deepEqual(bits(acc0), before, "a shared buffer is left unchanged");
          sum.dispose();
        } finally {
          setFusedKernels(was, "streambp");
        }
      }
      tf.dispose([a, b, want]);
    }
    acc0.dispose();
  },
);

if (TEST_BACKENDS.includes("blas")) {
  Deno.test("on blas matMulAccumulate writes into acc's own buffer: no product, no new sum (meter)", async () => {
    await initBackend({ backend: "blas" });
    const m = meter();
    const acc = tf.tidy(() => tf.randomNormal([64, 300], 0, 1, "float32", 8).mul(1));
    const x = tf.randomNormal([32, 64], 0, 1, "float32", 9), dy = tf.randomNormal([32, 300], 0, 1, "float32", 10);
    const want = tf.tidy(() => tf.add(acc, tf.matMul(x, dy, true, false)));
    const live = m.live;
    m.resetPeak();
    const sum = matMulAccumulate(acc, x, dy, true, false);
    assert.equal(m.peak, live, "nothing was allocated");
    acc.dispose();
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(sum, want))).dataSync()[0]) <= 1e-5);
    assert.equal(m.live, live);
    tf.dispose([sum, x, dy, want]);
  });
}
