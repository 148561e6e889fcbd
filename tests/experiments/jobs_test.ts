import assert from "node:assert/strict";
import { workerThreadsEnv } from "../../experiments/_lib/workers.ts";

async function runMemory(extra: string[]) {
  const out = await Deno.makeTempDir();
  const cmd = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "experiments/run.ts",
      "memory",
      "--quick",
      "--vit=false",
      "--techniques=baseline,checkpoint-every",
      "--out",
      out,
      ...extra,
    ],
    env: { NO_COLOR: "1", MEMTRAIN_BACKEND: "wasm" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(cmd.code, 0, new TextDecoder().decode(cmd.stderr));
  return JSON.parse(await Deno.readTextFile(`${out}/memory.json`)).rows as Record<string, number | string>[];
}

Deno.test("deno task experiment --jobs 2 runs cells in worker processes and gives the same rows, in order", async () => {
  const serial = await runMemory(["--in-process"]);
  const parallel = await runMemory(["--jobs", "2"]);
  assert.deepEqual(parallel.map((r) => r.technique), ["baseline", "checkpoint-every"]);
  assert.deepEqual(parallel.map((r) => r.technique), serial.map((r) => r.technique));
  for (const k of ["savedMiB", "predictedSavedMiB", "savedRatio"]) {
    assert.deepEqual(parallel.map((r) => r[k]), serial.map((r) => r[k]), k);
  }
  assert.equal(parallel[0].savedRatio, 1, "finalize computed ratios across cells");
});

Deno.test("memory runs each cell in a fresh process by default: the same meter peaks as in one process", async () => {
  const inProcess = await runMemory(["--in-process"]);
  const fresh = await runMemory([]);
  assert.deepEqual(fresh.map((r) => r.technique), ["baseline", "checkpoint-every"]);
  for (const k of ["peakMiB", "savedMiB", "predictedSavedMiB"]) {
    assert.deepEqual(fresh.map((r) => r[k]), inProcess.map((r) => r[k]), k);
  }
  for (const r of fresh) {
    assert.equal(r.heapKind, "wasm-heap");
    assert.ok(Number(r.heapPeakMiB) >= Number(r.peakMiB), "the heap holds at least what the meter counts");
    assert.ok(Math.abs(Number(r.fragmentation) - Number(r.heapPeakMiB) / Number(r.peakMiB)) < 1e-12);
  }
});

Deno.test("workerThreadsEnv names the parent's thread mechanism for multi-threaded worker cells", () => {
  assert.deepEqual(workerThreadsEnv(2, "workers"), { count: 2, via: "workers" });
  assert.deepEqual(workerThreadsEnv(2, "workers+defer"), { count: 2, via: "workers+defer" });
  assert.deepEqual(workerThreadsEnv(2, "single"), { count: 2, via: "openblas" });
  assert.deepEqual(workerThreadsEnv(2, undefined), { count: 2, via: "openblas" });
  assert.deepEqual(workerThreadsEnv(1, "workers"), { count: 1, via: "single" });
});
