import assert from "node:assert/strict";
import { benches, timeMedian } from "../../experiments/bench/mod.ts";
import { matmulGflops } from "../../experiments/bench/sgemm.ts";

Deno.test("bench: timeMedian runs warmup + at least minReps calls and returns the median", async () => {
  let calls = 0;
  const t = await timeMedian(() => calls++, { warmup: 2, minReps: 5, minMs: 0 });
  assert.equal(t.reps, 5);
  assert.equal(calls, 7);
  assert.ok(t.medianMs >= 0);
});

Deno.test("bench: registry has the sgemm section; GFLOP/s = 2mkn / time", () => {
  assert.ok(benches.some((b) => b.name === "sgemm"));
  assert.equal(matmulGflops(1000, 1000, 1000, 1000), 2);
});

Deno.test("bench: `experiments/bench.ts --out DIR` writes bench.json rows for wasm (and blas when available)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "experiments/bench.ts", "--sizes", "8,16", "--threads", "1", "--min-ms", "0", "--out", dir],
      cwd: new URL("../../", import.meta.url).pathname,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.match(new TextDecoder().decode(out.stdout), /│ wasm +│ +1 │ sgemm-16/);
    const { rows } = JSON.parse(await Deno.readTextFile(`${dir}/bench.json`));
    const wasm = rows.filter((r: { backend: string }) => r.backend === "wasm");
    assert.deepEqual(wasm.map((r: { config: string }) => r.config), ["sgemm-8", "sgemm-16"]);
    for (const r of rows) {
      assert.deepEqual(Object.keys(r).sort(), ["backend", "config", "gflops", "msPerStep", "sgemmGflops", "threads"]);
      assert.ok(r.msPerStep > 0 && r.gflops > 0 && r.sgemmGflops === r.gflops);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
