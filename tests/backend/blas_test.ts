import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  blasCandidates,
  blasPatchInfo,
  blasSgemm,
  DEFAULT_BLAS_CANDIDATES,
  initBackend,
  isBlasPatched,
  loadBlas,
  patchBlas,
  unpatchBlas,
} from "../../lib/backend/mod.ts";
import { assertAllClose, assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { needsBlas } from "../_util/backends.ts";

const TOL = { atol: 1e-4, rtol: 1e-4 };

/** Float64 reference: op(a)·op(b) with numpy-style broadcasting of the batch dims. */
function refMatMul(a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean): { shape: number[]; values: Float64Array } {
  const ra = a.rank, rb = b.rank;
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2], k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const av = a.dataSync(), bv = b.dataSync();
  const batches = outBatch.reduce((x, y) => x * y, 1);
  const values = new Float64Array(batches * m * n);
  const index = (shape: number[], i: number) => {
    let idx = 0, stride = 1;
    for (let d = outBatch.length - 1, s = shape.length - 1; s >= 0; d--, s--) {
      const c = i % outBatch[d];
      i = (i - c) / outBatch[d];
      if (shape[s] !== 1) idx += c * stride;
      stride *= shape[s];
    }
    return idx;
  };
  for (let i = 0; i < batches; i++) {
    const ao = index(a.shape.slice(0, -2), i) * m * k, bo = index(b.shape.slice(0, -2), i) * k * n;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          sum += av[ao + (tA ? j * m + r : r * k + j)] * bv[bo + (tB ? c * k + j : j * n + c)];
        }
        values[i * m * n + r * n + c] = sum;
      }
    }
  }
  return { shape: [...outBatch, m, n], values };
}

/** Runs `f` with the BLAS kernels and with the plain (patched) wasm kernels; returns both results. */
function both<T>(f: () => T): { blas: T; wasm: T } {
  assert.ok(isBlasPatched());
  const blas = f();
  unpatchBlas();
  try {
    return { blas, wasm: f() };
  } finally {
    patchBlas();
  }
}

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, "float32", seed);
}

async function setup(): Promise<void> {
  const info = await initBackend({ backend: "blas" });
  assert.equal(info.name, "blas");
}

Deno.test({
  ...needsBlas("blas: matMul equals wasm and the reference for all transpose combos and odd sizes"),
  fn: async () => {
    await setup();
    let seed = 1;
    for (const m of [1, 7, 33]) {
      for (const k of [1, 7, 33]) {
        for (const n of [1, 7, 33]) {
          for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
            tf.tidy(() => {
              const a = rand(tA ? [k, m] : [m, k], seed++), b = rand(tB ? [n, k] : [k, n], seed++);
              const { blas, wasm } = both(() => tf.matMul(a, b, tA, tB));
              const ref = refMatMul(a, b, tA, tB);
              const msg = `m=${m} k=${k} n=${n} tA=${tA} tB=${tB}: `;
              assert.deepEqual(blas.shape, ref.shape, msg);
              assertAllClose(blas, wasm, { ...TOL, msg });
              assertAllClose(blas.dataSync(), ref.values, { ...TOL, msg });
            });
          }
        }
      }
    }
  },
});

const BATCHED: [number[], number[]][] = [
  [[3, 7, 5], [3, 5, 4]],
  [[1, 7, 5], [3, 5, 4]],
  [[3, 7, 5], [1, 5, 4]],
  [[7, 5], [3, 5, 4]],
  [[3, 7, 5], [5, 4]],
  [[2, 3, 7, 5], [2, 3, 5, 4]],
  [[2, 3, 7, 5], [1, 1, 5, 4]],
  [[1, 3, 7, 5], [3, 5, 4]],
];

Deno.test({
  ...needsBlas("blas: batched 3-D/4-D matMul with batch broadcasting equals wasm and the reference"),
  fn: async () => {
    await setup();
    let seed = 100;
    for (const [sa, sb] of BATCHED) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
        tf.tidy(() => {
          const swap = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
          const a = rand(tA ? swap(sa) : sa, seed++), b = rand(tB ? swap(sb) : sb, seed++);
          const { blas, wasm } = both(() => tf.matMul(a, b, tA, tB));
          const ref = refMatMul(a, b, tA, tB);
          const msg = `[${sa}]x[${sb}] tA=${tA} tB=${tB}: `;
          assert.deepEqual(blas.shape, ref.shape, msg);
          assertAllClose(blas, wasm, { ...TOL, msg });
          assertAllClose(blas.dataSync(), ref.values, { ...TOL, msg });
        });
      }
    }
  },
});

Deno.test({
  ...needsBlas("blas: batch broadcasting in both directions ([2,1] x [1,3] batch dims) equals the reference"),
  fn: async () => {
    await setup();
    tf.tidy(() => {
      const a = rand([2, 1, 4, 6], 7), b = rand([1, 3, 6, 5], 8);
      const out = tf.matMul(a, b);
      const ref = refMatMul(a, b, false, false);
      assert.deepEqual(out.shape, [2, 3, 4, 5]);
      assertAllClose(out.dataSync(), ref.values, TOL);
    });
  },
});

const UNFUSED: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: tf.relu,
  relu6: tf.relu6,
  leakyrelu: (x) => tf.leakyRelu(x, 0.2),
  elu: tf.elu,
  sigmoid: tf.sigmoid,
};

Deno.test({
  ...needsBlas("blas: tf.dot equals wasm; tf.fused.matMul (bias, activations, transposes) equals unfused wasm ops"),
  fn: async () => {
    await setup();
    tf.tidy(() => {
      const v = rand([7], 1), w = rand([7, 5], 2), x = rand([4, 7], 3);
      for (const f of [() => tf.dot(v, w), () => tf.dot(x, w), () => tf.dot(w.transpose(), v)]) {
        const { blas, wasm } = both(f);
        assertAllClose(blas, wasm, TOL);
      }
      // The reference is unfused: the stock wasm _FusedMatMul adds the bias wrongly when transposeB is set.
      const xT = x.transpose(), wT = w.transpose();
      for (const bias of [rand([5], 4), tf.tensor1d([0.5]), undefined]) {
        for (const [activation, act] of Object.entries(UNFUSED)) {
          for (const [a, b, tA, tB] of [[x, w, false, false], [xT, w, true, false], [x, wT, false, true]] as const) {
            const { blas, wasm } = both(() => [
              tf.fused.matMul({ a, b, transposeA: tA, transposeB: tB, bias, activation: activation as "relu" }),
              act(bias ? tf.matMul(a, b, tA, tB).add(bias) : tf.matMul(a, b, tA, tB)),
            ]);
            assertAllClose(blas[0], wasm[1], { ...TOL, msg: `${activation} tA=${tA} tB=${tB} bias=${bias?.shape}: ` });
          }
        }
      }
      const a3 = rand([3, 4, 7], 6), b3 = w.expandDims(0), bias = rand([5], 7);
      const batched = both(() => [tf.fused.matMul({ a: a3, b: b3, bias }), tf.matMul(a3, b3).add(bias)]);
      assertAllClose(batched.blas[0], batched.wasm[1], TOL);
    });
  },
});

Deno.test({
  ...needsBlas("blas: gradients of matMul (tf.grads) equal wasm"),
  fn: async () => {
    await setup();
    // tfjs's BatchMatMul gradient does not reduce broadcast batch dims (on any backend), so batch shapes match here.
    const cases: [number[], number[]][] = [[[7, 33], [33, 5]], [[3, 7, 5], [3, 5, 4]], [[2, 3, 7, 5], [2, 3, 5, 4]]];
    let seed = 300;
    for (const [sa, sb] of cases) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
        tf.tidy(() => {
          const swap = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
          const a = rand(tA ? swap(sa) : sa, seed++), b = rand(tB ? swap(sb) : sb, seed++);
          const f = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, tA, tB).square().sum();
          const { blas, wasm } = both(() => tf.grads(f)([a, b]));
          for (let i = 0; i < 2; i++) {
            assert.deepEqual(blas[i].shape, wasm[i].shape);
            assert.ok(maxRelError(blas[i], wasm[i]) < 1e-5, `[${sa}]x[${sb}] tA=${tA} tB=${tB} grad ${i}`);
          }
        });
      }
    }
  },
});

Deno.test({
  ...needsBlas("blas: matMul whose output grows the wasm heap reads fresh views; no tensor leaks"),
  fn: async () => {
    await setup();
    const be = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
    const heapBytes = be.wasm.HEAPU8.buffer.byteLength;
    const n = Math.min(8192, Math.ceil(Math.sqrt(heapBytes / 4)) + 16); // output larger than the whole heap
    await assertNoLeaks(() => {
      tf.tidy(() => {
        const a = tf.range(0, n).reshape([n, 1]), b = tf.ones([1, n]);
        const out = tf.matMul(a, b);
        const v = out.dataSync();
        assert.equal(v[0], 0);
        assert.equal(v[(n - 1) * n + 3], n - 1);
        assert.equal(v[n * n - 1], n - 1);
      });
    });
    if (n < 8192) assert.ok(be.wasm.HEAPU8.buffer.byteLength > heapBytes, "the heap should have grown");
  },
});

Deno.test({
  ...needsBlas("blas: empty and K=0 matMuls"),
  fn: async () => {
    await setup();
    tf.tidy(() => {
      assert.deepEqual(tf.matMul(tf.zeros([0, 3]), tf.zeros([3, 4])).shape, [0, 4]);
      const z = tf.matMul(tf.zeros([2, 0]), tf.zeros([0, 4]));
      assert.deepEqual(Array.from(z.dataSync()), new Array(8).fill(0));
    });
  },
});

Deno.test({
  ...needsBlas("blas: patchBlas/unpatchBlas switch kernels and report the library and threads"),
  fn: async () => {
    const info = await initBackend({ backend: "blas", blasThreads: 1 });
    assert.equal(info.tfBackend, "wasm");
    assert.equal(tf.getBackend(), "wasm");
    assert.ok(info.notes.some((s) => s.includes(loadBlas().path) && s.includes("1 thread")), info.notes.join("; "));
    assert.equal(blasPatchInfo()?.threads, 1);
    assert.equal(patchBlas({ threads: 2 }).threads, 2);
    const blasKernel = tf.getKernel("BatchMatMul", "wasm");
    assert.equal(unpatchBlas(), true);
    assert.equal(unpatchBlas(), false);
    assert.notEqual(tf.getKernel("BatchMatMul", "wasm"), blasKernel);
    assert.equal(isBlasPatched(), false);
    const wasm = await initBackend({ backend: "wasm" });
    assert.equal(wasm.name, "wasm");
    assert.equal(isBlasPatched(), false);
    await setup();
    assert.equal(isBlasPatched(), true);
    assert.throws(() => patchBlas({ threads: 0 }), RangeError);
    await assert.rejects(() => initBackend({ backend: "blas", blasThreads: 1.5 }), /'blasThreads' must be a positive/);
  },
});

Deno.test({
  ...needsBlas("blasSgemm: direct calls on Float32Arrays with strides, alpha/beta and bounds checks"),
  fn: () => {
    const a = Float32Array.of(1, 2, 3, 4, 5, 6); // 2x3
    const b = Float32Array.of(1, 0, 0, 1, 1, 1); // 3x2
    const c = new Float32Array(4);
    blasSgemm(2, 2, 3, a, b, c);
    assert.deepEqual(Array.from(c), [4, 5, 10, 11]);
    blasSgemm(2, 2, 3, a, b, c, { alpha: 2, beta: 1 });
    assert.deepEqual(Array.from(c), [12, 15, 30, 33]);
    // aᵀ (3x2 stored as 2x3 → use transA with a stored k×m) and a padded output stride.
    const c2 = new Float32Array(2 * 4 + 3).fill(-1);
    blasSgemm(3, 3, 2, a, a, c2, { transA: true, ldc: 4 }); // aᵀa: 3x3
    assert.deepEqual(Array.from(c2.subarray(0, 3)), [17, 22, 27]);
    assert.equal(c2[3], -1, "padding untouched");
    assert.deepEqual(Array.from(c2.subarray(8, 11)), [27, 36, 45]);
    assert.throws(() => blasSgemm(2, 2, 3, a.subarray(1), b, c), RangeError);
    assert.throws(() => blasSgemm(2, 2, 3, a, b, c, { lda: 2 }), /'lda' must be an integer >= 3/);
    assert.throws(() => blasSgemm(2, -1, 3, a, b, c), /'n' must be a non-negative integer/);
    blasSgemm(2, 2, 0, new Float32Array(0), new Float32Array(0), c, { beta: 0.5 });
    assert.deepEqual(Array.from(c), [6, 7.5, 15, 16.5]);
  },
});

Deno.test({
  ...needsBlas("blas: an explicit missing library is a RangeError; auto falls back to wasm with a note"),
  fn: async () => {
    await assert.rejects(
      () => initBackend({ backend: "blas", blasPath: "/nonexistent/libopenblas.so.0" }),
      (e: unknown) => e instanceof RangeError && e.message.includes("/nonexistent/libopenblas.so.0 (not found)"),
    );
    assert.throws(() => loadBlas("/nonexistent/libopenblas.so.0"), RangeError);
    const info = await initBackend({ backend: "auto", blasPath: "/nonexistent/libopenblas.so.0" });
    assert.equal(info.name, "wasm");
    assert.equal(isBlasPatched(), false);
    assert.ok(
      info.notes.some((s) => /^OpenBLAS not found \(tried .*nonexistent.*\); using wasm$/.test(s)),
      info.notes[1],
    );
  },
});

/** Runs `script` (TypeScript, from stdin) in the repo root with `permissions`; returns the JSON it printed last. */
async function evalJson(script: string, env: Record<string, string>, permissions = ["-A"]): Promise<unknown> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, "--ext=ts", "-"],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test({
  ...needsBlas("blas: MEMTRAIN_BLAS_PATH=/nonexistent (subprocess): explicit blas throws, auto falls back"),
  fn: async () => {
    const script = `
      import { initBackend } from "./lib/backend/mod.ts";
      const auto = await initBackend();
      let err = "";
      try { await initBackend({ backend: "blas" }); } catch (e) { err = e.constructor.name + ": " + e.message; }
      console.log(JSON.stringify({ auto, err }));`;
    const { auto, err } = await evalJson(script, { MEMTRAIN_BLAS_PATH: "/nonexistent", MEMTRAIN_BACKEND: "auto" }) as {
      auto: { name: string; notes: string[] };
      err: string;
    };
    assert.equal(auto.name, "wasm");
    assert.ok(
      auto.notes.includes("OpenBLAS not found (tried /nonexistent (not found)); using wasm"),
      auto.notes.join(),
    );
    assert.match(err, /^RangeError: Cannot initialize backend "blas": .*\/nonexistent \(not found\)/);
  },
});

Deno.test({
  ...needsBlas("blas: auto without --allow-ffi (subprocess) uses wasm with a note and does not prompt"),
  fn: async () => {
    const script = `
      import { initBackend } from "./lib/backend/mod.ts";
      console.log(JSON.stringify(await initBackend()));`;
    const info = await evalJson(script, { MEMTRAIN_BACKEND: "auto" }, ["--allow-read", "--allow-env"]) as {
      name: string;
      notes: string[];
    };
    assert.equal(info.name, "wasm");
    assert.ok(info.notes.some((n) => n.includes("no --allow-ffi")), info.notes.join());
  },
});

Deno.test("blasCandidates: explicit path, then MEMTRAIN_BLAS_PATH alone, else the OpenBLAS search list", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(blasCandidates("/x/libblas.so", env({ MEMTRAIN_BLAS_PATH: "/y" })), ["/x/libblas.so"]);
  assert.deepEqual(blasCandidates(undefined, env({ MEMTRAIN_BLAS_PATH: "/y" })), ["/y"]);
  const list = blasCandidates(undefined, env({}));
  assert.deepEqual(list, [...DEFAULT_BLAS_CANDIDATES]);
  assert.equal(list[0], "libopenblas.so.0");
  assert.equal(list.at(-1), "libblas.so.3");
  assert.ok(list.includes("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"));
  assert.ok(list.includes("/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0"));
});
