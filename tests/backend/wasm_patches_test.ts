import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, isWasmPatched } from "../../lib/backend/mod.ts";
import { assertAllClose, assertNoLeaks, maxRelError } from "../_util/assert_close.ts";

interface WasmInternals {
  numDataIds(): number;
  getMemoryOffset(dataId: unknown): number;
}

/** Runs `f` on cpu and then on (patched) wasm and returns both results as plain arrays. */
async function onCpuAndWasm(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const run = () => {
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const arrays = list.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(list);
    return arrays;
  };
  await initBackend({ backend: "cpu" });
  const cpu = run();
  await initBackend({ backend: "wasm" });
  return { cpu, wasm: run() };
}

Deno.test("wasm patches: initBackend('wasm') applies them", async () => {
  const info = await initBackend({ backend: "wasm" });
  assert.equal(info.name, "wasm");
  assert.equal(info.tfBackend, "wasm");
  assert.equal(isWasmPatched(), true);
});

Deno.test("wasm patches: Identity (clone) shares the buffer instead of copying", async () => {
  await initBackend({ backend: "wasm" });
  const be = tf.backend() as unknown as WasmInternals;
  const x = tf.randomNormal([1000]);
  const ids = be.numDataIds();
  const y = tf.clone(x);
  const z = tf.clone(y);
  assert.equal(be.numDataIds(), ids, "clone must not allocate a wasm buffer");
  assert.equal(y.dataId, x.dataId);
  assert.equal(be.getMemoryOffset(z.dataId), be.getMemoryOffset(x.dataId));
  const expected = Float32Array.from(x.dataSync());
  x.dispose();
  assert.deepEqual(y.dataSync(), expected, "the clone survives disposing the original");
  y.dispose();
  assert.deepEqual(z.dataSync(), expected);
  z.dispose();
  assert.equal(be.numDataIds(), ids - 1, "the shared buffer is freed with its last tensor");
});

Deno.test("wasm patches: transposed and batched BatchMatMul (one matrix product per batch entry) equals cpu", async () => {
  const shapes = [[[7, 33], [33, 5]], [[3, 7, 5], [3, 5, 4]], [[2, 7, 5], [1, 5, 4]], [[1, 7, 5], [3, 5, 4]], [[
    2,
    3,
    7,
    5,
  ], [2, 3, 5, 4]]];
  for (const [sa, sb] of shapes) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const swap = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
      const a = tf.randomUniform(tA ? swap(sa) : sa, -1, 1, "float32", 1).arraySync() as number[];
      const b = tf.randomUniform(tB ? swap(sb) : sb, -1, 1, "float32", 2).arraySync() as number[];
      const { cpu, wasm } = await onCpuAndWasm(() => tf.matMul(tf.tensor(a), tf.tensor(b), tA, tB));
      assertAllClose(wasm[0], cpu[0], { atol: 1e-5, rtol: 1e-5, msg: `[${sa}]x[${sb}] tA=${tA} tB=${tB}: ` });
    }
  }
});

Deno.test("wasm patches: tf.grads of tf.gather works on wasm and equals cpu", async () => {
  const table = Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i));
  const idx = [0, 2, 2, 5, 2, 0];
  const f = () => {
    const w = tf.tensor2d(table, [6, 4]);
    const g = tf.grads((t: tf.Tensor) => tf.gather(t, tf.tensor1d(idx, "int32")).square().sum());
    return [g([w])[0]];
  };
  const { cpu, wasm } = await onCpuAndWasm(f);
  assert.ok(maxRelError(wasm[0], cpu[0]) < 1e-6);
  assert.equal(wasm[0][4], 0, "unused rows get zero gradient");
  assertAllClose(wasm[0][8], 2 * table[8] * 3, { rtol: 1e-5 }); // row 2 gathered 3 times
  await assertNoLeaks(() => tf.dispose(tf.tidy(f)));
});

Deno.test("wasm patches: UnsortedSegmentSum sums duplicate indices", async () => {
  await initBackend({ backend: "wasm" });
  tf.tidy(() => {
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([1, 1, 0, 1], "int32"), 3);
    assert.deepEqual(out.shape, [3, 2]);
    assert.deepEqual(Array.from(out.dataSync()), [5, 6, 11, 14, 0, 0]);
    const v = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3]), tf.tensor1d([2, 2, 2], "int32"), 3);
    assert.deepEqual(Array.from(v.dataSync()), [0, 0, 6]);
  });
});
