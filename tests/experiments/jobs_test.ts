import assert from "node:assert/strict";

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
  const serial = await runMemory([]);
  const parallel = await runMemory(["--jobs", "2"]);
  assert.deepEqual(parallel.map((r) => r.technique), ["baseline", "checkpoint-every"]);
  assert.deepEqual(parallel.map((r) => r.technique), serial.map((r) => r.technique));
  for (const k of ["savedMiB", "predictedSavedMiB", "savedRatio"]) {
    assert.deepEqual(parallel.map((r) => r[k]), serial.map((r) => r[k]), k);
  }
  assert.equal(parallel[0].savedRatio, 1, "finalize computed ratios across cells");
});
