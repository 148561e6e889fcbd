import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { setFusedKernels, setFusedSimd } from "../../lib/backend/mod.ts";
import { gatherRows, gatherRowsScaled, rowNorms } from "../../lib/wtacrs/kernels.ts";
import { testOnBackends } from "../_util/backends.ts";

/** `f`'s outputs with the fused kernels on (SIMD on or off), then with the stock ops. */
function bothWays(f: () => tf.Tensor, simd = true): { fused: Float32Array; stock: Float32Array; active: boolean } {
  const run = (on: boolean) => {
    const before = setFusedKernels(on), beforeSimd = setFusedSimd(simd);
    try {
      const t = f();
      const v = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      return v;
    } finally {
      setFusedKernels(before);
      setFusedSimd(beforeSimd);
    }
  };
  const before = setFusedKernels(true);
  const active = gatherRows.active();
  setFusedKernels(before);
  return { fused: run(true), stock: run(false), active };
}

testOnBackends("gatherRows and gatherRowsScaled equal the stock gather (and multiply) bit for bit", (backend) => {
  const x = tf.randomNormal([37, 12], 0, 1, "float32", 1) as tf.Tensor2D;
  const idx = tf.tensor1d([36, 0, 5, 5, 17, 2, 36], "int32");
  const scales = tf.tensor1d([1, 0.3, 1e-3, 7.5, 1, -2, 1 / 3]);
  const g = bothWays(() => gatherRows(x, idx));
  assert.equal(g.active, backend !== "cpu", "the fused kernel runs on wasm and blas");
  assert.deepEqual(g.fused, g.stock);
  assert.deepEqual(g.fused.slice(0, 12), x.dataSync().slice(36 * 12, 37 * 12));
  const s = bothWays(() => gatherRowsScaled(x, idx, scales));
  assert.deepEqual(s.fused, s.stock);
  tf.dispose([x, idx, scales]);
});

testOnBackends(
  "rowNorms equals the stock sqrt(sum(square)) within float32 rounding (SIMD, JS loop, odd widths)",
  () => {
    for (const [n, c] of [[50, 16], [9, 7], [3, 1024]]) {
      const x = tf.randomNormal([n, c], 0, 3, "float32", n) as tf.Tensor2D;
      for (const simd of [true, false]) {
        const r = bothWays(() => rowNorms(x), simd);
        assert.equal(r.fused.length, n);
        for (let i = 0; i < n; i++) {
          assert.ok(
            Math.abs(r.fused[i] - r.stock[i]) <= 2e-6 * r.stock[i],
            `[${n}, ${c}] row ${i}: ${r.fused[i]} vs ${r.stock[i]}`,
          );
        }
      }
      x.dispose();
    }
    const zero = rowNorms(tf.zeros([2, 8]) as tf.Tensor2D);
    assert.deepEqual([...zero.dataSync()], [0, 0]);
    zero.dispose();
  },
);

testOnBackends("gatherRows rejects an index outside the rows", (backend) => {
  const x = tf.zeros([4, 4]) as tf.Tensor2D, idx = tf.tensor1d([4], "int32");
  if (backend === "cpu") assert.equal(gatherRows.active(), false, "cpu runs the stock gather");
  else assert.throws(() => gatherRows(x, idx), /row index 4 is outside \[0, 4\)/);
  tf.dispose([x, idx]);
});
