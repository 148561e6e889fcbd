import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { findBlas } from "../../lib/backend/blas.ts";
import { blasPatchInfo } from "../../lib/backend/blas_patch.ts";
import { bufferAddress, GemmPool } from "../../lib/backend/gemm_pool.ts";
import { CALL_FIELDS } from "../../lib/backend/gemm_protocol.ts";
import { type GemmSpec, splitGemm } from "../../lib/backend/gemm_split.ts";
import { initBackend } from "../../lib/backend/init.ts";
import { needsBlas } from "../_util/backends.ts";

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
  // Addresses are byte offsets into `mem`.
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

Deno.test("splitGemm: the calls together equal the unsplit GEMM (every transpose, β = 0 and 1, 1-8 parts)", () => {
  const cases: [number, number, number, number, number, number][] = [
    // batches, m, n, k, aBatches, bBatches
    [1, 300, 40, 5, 1, 1], // split rows: 2 parts of >= 128, unaligned size
    [1, 24, 270, 4, 1, 1], // split columns
    [3, 260, 17, 3, 3, 1], // broadcast B, each matrix split by rows
    [5, 8, 8, 4, 5, 5], // 4+ matrices: one call each
    [1, 100, 100, 3, 1, 1], // smaller than one part: one call
  ];
  for (const [batches, m, n, k, aB, bB] of cases) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      for (const beta of [0, 1]) {
        const want = layout(batches, m, n, k, aB, bB);
        const spec = (l: typeof want): GemmSpec => ({ batches, m, n, k, transA, transB, a: l.a, b: l.b, c: l.c, beta });
        const whole = splitGemm(spec(want), 1);
        for (let o = 0; o < whole.length; o += CALL_FIELDS) refSgemm(want.mem, whole, o);
        for (const parts of [2, 3, 8]) {
          const got = layout(batches, m, n, k, aB, bB);
          const list = splitGemm(spec(got), parts);
          for (let o = 0; o < list.length; o += CALL_FIELDS) refSgemm(got.mem, list, o);
          assert.deepEqual(
            got.mem,
            want.mem,
            `${[batches, m, n, k, aB, bB]} tA=${transA} tB=${transB} β=${beta} ×${parts}`,
          );
        }
      }
    }
  }
});

Deno.test("splitGemm: parts of >= 128 rows, aligned to 16; one call per matrix from 4 matrices on", () => {
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
  const rows = (list: number[]) =>
    Array.from({ length: list.length / CALL_FIELDS }, (_, i) => list[i * CALL_FIELDS + 3]);
  assert.deepEqual(rows(splitGemm(spec, 8)), Array(8).fill(128));
  assert.deepEqual(rows(splitGemm(spec, 1)), [1024]);
  const three = rows(splitGemm(spec, 3));
  assert.equal(three.reduce((x, y) => x + y), 1024);
  for (const r of three.slice(0, -1)) assert.equal(r % 16, 0, `part of ${r} rows is 16-aligned`);
  assert.deepEqual(rows(splitGemm({ ...spec, m: 200, n: 64 }, 8)), [200], "fewer than 2·128 rows: one call");
  assert.equal(splitGemm({ ...spec, batches: 32, m: 128, n: 128 }, 8).length / CALL_FIELDS, 32);
});

Deno.test({
  ...needsBlas("GemmPool: shared and deferred jobs compute into the caller's memory; bad sizes throw RangeError"),
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
      for (const mode of ["shared", "deferred"] as const) {
        const l = layout(batches, m, n, k, batches, 1);
        const want = l.mem.slice();
        const spec: GemmSpec = { batches, m, n, k, transA: false, transB: true, a: l.a, b: l.b, c: l.c, beta: 0 };
        const whole = splitGemm(spec, 1);
        for (let o = 0; o < whole.length; o += CALL_FIELDS) refSgemm(want, whole, o);
        const base = bufferAddress(l.mem.buffer);
        const addr = (f: (i: number) => number) => (i: number) => base + f(i);
        const list = splitGemm({ ...spec, a: addr(l.a), b: addr(l.b), c: addr(l.c) }, 8);
        if (mode === "shared") pool.run(list);
        else pool.wait(1, pool.submit(1, list));
        assert.deepEqual(l.mem, want, mode);
      }
      assert.throws(() => pool.submit(5, []), RangeError);
    } finally {
      pool.close();
    }
    assert.equal(pool.ready, false, "a closed pool is not ready");
  },
});

Deno.test({
  ...needsBlas("blas backend with 2 threads and blasPool uses the GEMM pool and matches a float64 reference"),
  async fn() {
    await initBackend({ backend: "blas", blasThreads: 2, blasPool: true });
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
