import { initBackend } from "../../lib/backend/mod.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { checkRows, collectEnv, gitVersion, writeResults } from "../../experiments/_lib/results.ts";
import { needsBlas } from "../_util/backends.ts";

Deno.test("gitVersion() is 'unknown' outside a git checkout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // GIT_CEILING_DIRECTORIES is not needed: temp dirs are not inside a checkout.
    assert.equal(await gitVersion(dir), "unknown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("collectEnv() records backend, versions, git, date, quick and one thread off blas", async () => {
  await initBackend({ backend: "cpu" });
  const env = await collectEnv({ backend: "cpu", quick: true, git: "abc1234", date: new Date(0) });
  assert.deepEqual(env, {
    backend: "cpu",
    deno: Deno.version.deno,
    tfjs: tf.version.tfjs,
    git: "abc1234",
    date: "1970-01-01T00:00:00.000Z",
    quick: true,
    threads: { count: 1, via: "single" },
  });
});

Deno.test({
  ...needsBlas("collectEnv() records the BLAS threads and whose they are (OpenBLAS's, GEMM workers, deferred)"),
  async fn() {
    const cases = [
      [{ blasThreads: 1 }, { count: 1, via: "single" }],
      [{ blasThreads: 2, blasPool: false }, { count: 2, via: "openblas" }],
      [{ blasThreads: 2, blasPool: true }, { count: 2, via: "workers" }],
      [{ blasThreads: 2, blasDefer: true }, { count: 2, via: "workers+defer" }],
    ] as const;
    try {
      for (const [options, threads] of cases) {
        const info = await initBackend({ backend: "blas", ...options });
        // Where worker threads cannot start, initBackend falls back to OpenBLAS's own threads (and says so).
        const fellBack = info.notes.some((n) => n.includes("did not start"));
        const env = await collectEnv({ backend: "blas", quick: false, git: "x" });
        assert.deepEqual(env.threads, fellBack ? { count: 2, via: "openblas" } : threads, JSON.stringify(options));
      }
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});

Deno.test("writeResults() creates the directory and writes <experiment>.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = await collectEnv({ backend: "cpu", quick: false, git: "unknown" });
    const record = { experiment: "toy", config: { a: 1 }, env, rows: [{ technique: "t", model: "m", x: 1 }] };
    const path = await writeResults(`${dir}/nested/`, record);
    assert.equal(path, `${dir}/nested/toy.json`);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), record);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkRows() accepts flat rows and explains bad ones", () => {
  assert.equal(checkRows([{ technique: "t", model: "m", a: 1, b: "s", c: true, d: null }]), undefined);
  assert.match(checkRows([])!, /^no rows/, "an empty result is an error");
  assert.equal(checkRows([], true), undefined, "unless allowed (a shard without cells)");
  assert.match(checkRows(undefined)!, /expected an array/);
  assert.match(checkRows([1])!, /row 0 is not an object/);
  assert.match(checkRows([{ model: "m" }])!, /no string "technique"/);
  assert.match(checkRows([{ technique: "t", model: "m", x: [1] }])!, /key "x" is a object/);
});
