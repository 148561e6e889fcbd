import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { findBlas } from "../../lib/backend/blas.ts";
import { blasPatchInfo } from "../../lib/backend/blas_patch.ts";
import { bufferAddress, GemmPool } from "../../lib/backend/gemm_pool.ts";
import { CALL_FIELDS } from "../../lib/backend/gemm_protocol.ts";
import { type GemmSpec, splitGemm } from "../../lib/backend/gemm_split.ts";
import { initBackend } from "../../lib/backend/init.ts";
import { BLAS_AVAILABLE } from "../_util/backends.ts";

/** Reference row-major sgemm on a Float32Array "memory" whose byte addresses start at 0. */
function refSgemm(mem: Float32Array, call: ArrayLike<number>, o: number): void {
  const [tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc] = Array.from({ length: 13 }, (_, i) => call[o + 1 + i]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) {
        const av = mem[a / 4 + (tA === 112 ? l * lda + i : i * lda + l)];
        const bv = mem[b / 4 + (tB === 112 ? j * ldb + l : l * ldb + j)];
        acc += av * bv;
      }
      const ci = c / 4 + i * ldc + j;
      mem[ci] = alpha * acc + (beta === 0 ? 0 : beta * mem[ci]);
    }
  }
}

/** A memory with A (aBatches), B (bBatches) and C (batches) laid out one after the other, filled with small integers. */
function layout(batches: number, m: number, n: number, k: number, aBatches: number, bBatches: number) {
  const aSize = m * k, bSize = k * n, cSize = m * n;
  const mem = new Float32Array(aBatches * aSize + bBatches * bSize + batches * cSize);
  for (let i = 0; i < mem.length; i++) mem[i] = ((i * 7919) % 13) - 6;
  const bAt = 4 * aBatches * aSize, cAt = bAt + 4 * bBatches * bSize;
  return {
    mem,
    a: (i: number) => 4 * (aBatches === 1 ? 0 : i) * aSize,
    b: (i: number) => bAt + 4 * (bBatches === 1 ? 0 : i) * bSize,
    c: (i: number) => cAt + 4 * i * cSize,
  };
}

Deno.test("splitGemm: every output element is computed once, equal to the unsplit GEMM (1-3 threads)", () => {
  const cases: [number, number, number, number, number, number][] = [
    // batches, m, n, k, aBatches, bBatches
    [1, 100, 40, 9, 1, 1], // split rows, unaligned size
    [1, 24, 70, 5, 1, 1], // split columns
    [3, 33, 17, 6, 3, 1], // broadcast B, fewer batches than... threads at 4
    [5, 8, 8, 4, 5, 5], // split the batch
    [1, 10, 10, 3, 1, 1], // smaller than one aligned block: all on one thread
  ];
  for (const [batches, m, n, k, aB, bB] of cases) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      for (const beta of [0, 1]) {
        const want = layout(batches, m, n, k, aB, bB), got = layout(batches, m, n, k, aB, bB);
        const spec = (l: typeof want): GemmSpec => ({ batches, m, n, k, transA, transB, a: l.a, b: l.b, c: l.c, beta });
        const whole = splitGemm(spec(want), 1);
        for (let o = 0; o < whole[0].length; o += CALL_FIELDS) refSgemm(want.mem, whole[0], o);
        for (const threads of [2, 3, 4]) {
          got.mem.set(layout(batches, m, n, k, aB, bB).mem);
          const job = splitGemm(spec(got), threads);
          assert.equal(job.length, threads);
          for (const list of job) for (let o = 0; o < list.length; o += CALL_FIELDS) refSgemm(got.mem, list, o);
          assert.deepEqual(
            got.mem,
            want.mem,
            `${[batches, m, n, k, aB, bB]} tA=${transA} tB=${transB} β=${beta} ×${threads}`,
          );
        }
      }
    }
  }
});

Deno.test("splitGemm: work is balanced (largest part <= half + one aligned block) and blocks are 16-aligned", () => {
  const spec: GemmSpec = {
    batches: 1,
    m: 1024,
    n: 256,
    k: 64,
    transA: false,
    transB: false,
    a: () => 0,
    b: () => 0,
    c: () => 0,
    beta: 0,
  };
  const rows = splitGemm(spec, 2).map((l) => l[3]);
  assert.deepEqual(rows, [512, 512]);
  const rows3 = splitGemm(spec, 3).map((l) => l[3]);
  assert.equal(rows3.reduce((x, y) => x + y), 1024);
  for (const r of rows3.slice(0, -1)) assert.equal(r % 16, 0, `part of ${r} rows is 16-aligned`);
  const batched = splitGemm({ ...spec, batches: 32, m: 128, n: 128 }, 2).map((l) => l.length / CALL_FIELDS);
  assert.deepEqual(batched, [16, 16]);
});

Deno.test({
  name: "GemmPool: worker threads compute into the caller's memory; errors are RangeErrors naming the value",
  ignore: !BLAS_AVAILABLE,
  async fn() {
    const path = findBlas().lib!.path;
    assert.throws(() => GemmPool.spawn(path, 0), {
      name: "RangeError",
      message: "Cannot spawn GemmPool: 'workers' must be a positive integer: current value is 0",
    });
    const pool = GemmPool.spawn(path, 2);
    try {
      assert.equal(pool.threads, 3);
      assert.ok(await pool.whenReady(), "workers start");
      const batches = 6, m = 40, n = 24, k = 12;
      const l = layout(batches, m, n, k, batches, 1);
      const want = l.mem.slice();
      const spec: GemmSpec = { batches, m, n, k, transA: false, transB: true, a: l.a, b: l.b, c: l.c, beta: 0 };
      for (const list of splitGemm(spec, 1)) for (let o = 0; o < list.length; o += CALL_FIELDS) refSgemm(want, list, o);
      const base = bufferAddress(l.mem.buffer);
      const addr = (f: (i: number) => number) => (i: number) => base + f(i);
      pool.run(splitGemm({ ...spec, a: addr(l.a), b: addr(l.b), c: addr(l.c) }, pool.threads));
      assert.deepEqual(l.mem, want);
    } finally {
      pool.close();
    }
    assert.equal(pool.ready, false, "a closed pool is not ready");
  },
});

Deno.test({
  name: "blas backend with 2 threads uses the GEMM pool and matches a float64 reference",
  ignore: !BLAS_AVAILABLE,
  async fn() {
    await initBackend({ backend: "blas", blasThreads: 2 });
    try {
      assert.equal(blasPatchInfo()?.pool, true);
      const a = tf.randomNormal([8, 96, 32], 0, 1, "float32", 1), b = tf.randomNormal([32, 80], 0, 1, "float32", 2);
      const y = tf.matMul(a, b); // 8·96·80·32 multiply-adds >= POOL_MIN_MACS: split between 2 threads
      const ad = a.dataSync(), bd = b.dataSync(), yd = y.dataSync();
      let maxErr = 0;
      for (let r = 0; r < 8 * 96; r++) {
        for (let j = 0; j < 80; j++) {
          let acc = 0;
          for (let l = 0; l < 32; l++) acc += ad[r * 32 + l] * bd[l * 80 + j];
          maxErr = Math.max(maxErr, Math.abs(acc - yd[r * 80 + j]));
        }
      }
      assert.ok(maxErr < 1e-4, `max error ${maxErr}`);
      tf.dispose([a, b, y]);
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});
