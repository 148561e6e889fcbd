import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { blasPatchInfo, deferredMatMulActive, drainDeferred } from "../../lib/backend/blas_patch.ts";
import { initBackend } from "../../lib/backend/init.ts";
import { meter } from "../../lib/memory/meter.ts";
import { matMulLater } from "../../lib/nn/_fused.ts";
import { createGpt } from "../../lib/models/mod.ts";
import { backprop } from "../../lib/train/mod.ts";
import { BLAS_SKIP_REASON, needsBlas, unlessSkipped } from "../_util/backends.ts";

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

Deno.test({
  ...needsBlas(
    "deferred matmul: equals tf.matMul; inputs freed at once stay counted until the worker is done; no leaks",
  ),
  async fn() {
    await initBackend({ backend: "blas", blasThreads: 2, blasDefer: true });
    try {
      assert.ok(deferredMatMulActive(), "blas with 2 threads defers");
      const be = tf.backend() as unknown as { numDataIds(): number };
      const ids0 = be.numDataIds(), tensors0 = tf.memory().numTensors;
      // [1536, 1024]ᵀ·[1536, 1024]: ~1.6e9 multiply-adds, tens of ms on one core, so it is still running below.
      const x = tf.randomNormal([1536, 1024], 0, 1, "float32", 1),
        dy = tf.randomNormal([1536, 1024], 0, 1, "float32", 2);
      const want = tf.matMul(x, dy, true, false);
      const external0 = meter().external;
      const dw = matMulLater(x, dy, true, false);
      x.dispose();
      dy.dispose();
      const held = meter().external - external0;
      assert.equal(held, 2 * 1536 * 1024 * 4, "inputs freed while the job runs stay counted (external) until it ends");
      const got = dw.dataSync() as Float32Array; // waits for the worker
      assert.ok(maxRelErr(got, want.dataSync() as Float32Array) < 1e-5, "same product as the synchronous kernel");
      assert.equal(meter().external, external0, "postponed frees are released once the job is done");
      tf.dispose([dw, want]);
      drainDeferred();
      assert.equal(tf.memory().numTensors, tensors0);
      assert.equal(be.numDataIds(), ids0, "no wasm buffer is left behind");
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});

Deno.test({
  ...needsBlas("deferred matmul: a chain of dependent deferred products and reads gives the synchronous results"),
  async fn() {
    await initBackend({ backend: "blas", blasThreads: 2, blasDefer: true });
    try {
      const a = tf.randomNormal([512, 512], 0, 1, "float32", 3);
      const sync1 = tf.matMul(a, a), sync2 = tf.matMul(sync1, a, true, false);
      const d1 = matMulLater(a, a); // pending output used as the next job's input: the fence waits for it
      const d2 = matMulLater(d1, a, true, false);
      const sum = tf.add(d2, 1); // a kernel reading a pending output
      assert.ok(maxRelErr(d1.dataSync() as Float32Array, sync1.dataSync() as Float32Array) < 1e-5);
      assert.ok(maxRelErr(d2.dataSync() as Float32Array, sync2.dataSync() as Float32Array) < 1e-5);
      const want = tf.add(sync2, 1);
      assert.ok(maxRelErr(sum.dataSync() as Float32Array, want.dataSync() as Float32Array) < 1e-5);
      tf.dispose([a, sync1, sync2, d1, d2, sum, want]);
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});

Deno.test({
  ...unlessSkipped(
    "pool and deferral are off by default (OpenBLAS threads); blasDefer: true starts the pool and defers",
    BLAS_SKIP_REASON ??
      (["MEMTRAIN_BLAS_DEFER", "MEMTRAIN_BLAS_POOL"].some((v) => Deno.env.get(v) !== undefined)
        ? "MEMTRAIN_BLAS_DEFER or MEMTRAIN_BLAS_POOL is set (the defaults cannot be seen)"
        : undefined),
  ),
  async fn() {
    try {
      const off = await initBackend({ backend: "blas", blasThreads: 2 });
      assert.equal(deferredMatMulActive(), false);
      assert.match(off.notes.join("; "), /2 thread\(s\) \(OpenBLAS threads\)/);
      assert.equal(blasPatchInfo()?.pool, false);
      const on = await initBackend({ backend: "blas", blasThreads: 2, blasDefer: true });
      assert.equal(deferredMatMulActive(), true);
      assert.match(on.notes.join("; "), /deferred weight gradients/);
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});

/** Loss and gradients of one backprop step of a small GPT (its weight-gradient matmuls are large enough to defer). */
function gptGrads(): { loss: number; grads: Record<string, Float32Array> } {
  const gpt = createGpt({ vocab: 32, context: 32, dim: 64, layers: 2, heads: 4, mlpRatio: 4 }, { seed: 3 });
  const x = tf.tensor2d(Array.from({ length: 8 * 32 }, (_, i) => (i * 7) % 32), [8, 32], "int32");
  const y = tf.tensor2d(Array.from({ length: 8 * 32 }, (_, i) => (i * 5 + 1) % 32), [8, 32], "int32");
  try {
    const { loss, grads } = backprop().lossAndGrads(gpt, { x, y });
    const arrays = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync())]));
    tf.dispose(Object.values(grads));
    return { loss, grads: arrays };
  } finally {
    tf.dispose([x, y, ...Object.values(gpt.params)]);
  }
}

Deno.test({
  ...needsBlas(
    "deferred weight gradients: a GPT backprop step equals the wasm backend's (loss, every gradient); no leaks",
  ),
  async fn() {
    await initBackend({ backend: "wasm" });
    const want = gptGrads();
    await initBackend({ backend: "blas", blasThreads: 2, blasDefer: true });
    try {
      assert.ok(deferredMatMulActive());
      const tensors0 = tf.memory().numTensors, external0 = meter().external;
      const got = gptGrads();
      assert.equal(tf.memory().numTensors, tensors0, "no tensor leaks");
      assert.equal(meter().external, external0, "nothing left postponed after the step");
      assert.ok(Math.abs(got.loss - want.loss) < 1e-5 * Math.abs(want.loss), `loss ${got.loss} vs ${want.loss}`);
      assert.deepEqual(Object.keys(got.grads).sort(), Object.keys(want.grads).sort());
      for (const [k, g] of Object.entries(want.grads)) {
        assert.ok(maxRelErr(got.grads[k], g) < 1e-4, `${k}: max rel err ${maxRelErr(got.grads[k], g)}`);
      }
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});
