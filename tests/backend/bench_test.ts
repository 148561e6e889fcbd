import assert from "node:assert/strict";
import { benches, timeMedian } from "../../experiments/bench/mod.ts";
import { matmulGflops } from "../../experiments/bench/sgemm.ts";
import {
  aggregateKernels,
  formatProfile,
  MATMUL_KERNEL,
  type ProfileRow,
  profileRows,
  type StepProfile,
} from "../../experiments/bench/profile.ts";
import { BLAS_AVAILABLE } from "../_util/backends.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function bench(args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "experiments/bench.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("bench: timeMedian runs warmup + at least minReps calls and returns the median (on a fake clock)", async () => {
  // A fake clock: each call of fn advances it by the next duration, so the timings are known exactly (no real time).
  const realNow = performance.now;
  let clock = 0, calls = 0;
  const durations = [100, 200, 5, 1, 9, 3, 7, 2];
  const fn = () => void (clock += durations[calls++]);
  Object.defineProperty(performance, "now", { value: () => clock, configurable: true });
  try {
    const odd = await timeMedian(fn, { warmup: 2, minReps: 5, minMs: 0 });
    assert.equal(calls, 7, "2 warmup calls (not timed) + 5 timed");
    assert.deepEqual(odd, { medianMs: 5, reps: 5 }, "median of 5, 1, 9, 3, 7");
    clock = 0, calls = 0;
    const even = await timeMedian(fn, { warmup: 2, minReps: 4, minMs: 0 });
    assert.deepEqual(even, { medianMs: 4, reps: 4 }, "median of 5, 1, 9, 3: the mean of 3 and 5");
    clock = 0, calls = 2;
    const timed = await timeMedian(fn, { warmup: 0, minReps: 1, minMs: 15 });
    assert.deepEqual(timed, { medianMs: 5, reps: 3 }, "past minReps, it stops once minMs (15) has passed: 5 + 1 + 9");
  } finally {
    Object.defineProperty(performance, "now", { value: realNow, configurable: true });
  }
});

Deno.test("bench: registry has the sgemm section; GFLOP/s = 2mkn / time", () => {
  assert.ok(benches.some((b) => b.name === "sgemm"));
  assert.equal(matmulGflops(1000, 1000, 1000, 1000), 2);
});

Deno.test("bench: `experiments/bench.ts --out DIR` writes bench.json rows for wasm (and blas when available)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "experiments/bench.ts",
        "--only",
        "sgemm",
        "--sizes",
        "8,16",
        "--threads",
        "1,2",
        "--rounds",
        "2",
        "--min-ms",
        "0",
        "--out",
        dir,
      ],
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
      const keys = ["backend", "config", "gflops", "msPerStep", "sgemmGflops", "sgemmShare", "threads"];
      // A row on two threads also gives its speedup over the same run's one-thread row of the same config.
      assert.deepEqual(Object.keys(r).sort(), r.threads > 1 ? [...keys, "speedup", "threading"].sort() : keys);
      assert.ok(r.msPerStep > 0 && r.gflops > 0 && r.sgemmGflops === r.gflops && r.sgemmShare === 1);
      if (r.threads > 1) assert.ok(Number.isFinite(r.speedup) && r.speedup > 0, `speedup ${r.speedup}`);
    }
    assert.equal(rows.some((r: { threads: number }) => r.threads > 1), BLAS_AVAILABLE, "blas rows on two threads");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench profile: aggregateKernels sums per kernel and step, sorts by time, and leaves op wrappers out", () => {
  const stats = aggregateKernels([
    { name: "Add", kernelTimeMs: 2 },
    { name: "BatchMatMul", kernelTimeMs: 10 },
    { name: "Add", kernelTimeMs: 2 },
    { name: "fusedMatMul__op", kernelTimeMs: 9 }, // a customGrad wrapper: its inner kernel is recorded too
    { name: "BatchMatMul", kernelTimeMs: 6 },
    { name: "Max", kernelTimeMs: { error: "no timer" } }, // some backends report an error object
  ], 2);
  assert.deepEqual(stats.map((s) => s.name), ["BatchMatMul", "fusedMatMul__op", "Add", "Max"]);
  assert.deepEqual(stats[0], { name: "BatchMatMul", ms: 8, calls: 1, share: 0.8 });
  assert.deepEqual(stats[1], { name: "fusedMatMul__op", ms: 4.5, calls: 0.5, share: 0, wrapper: true });
  assert.deepEqual(stats[2], { name: "Add", ms: 2, calls: 1, share: 0.2 });
  assert.equal(stats[3].ms, 0);
});

Deno.test("bench profile: formatProfile lists the top kernels, the rest as one row, totals and the overhead", () => {
  const kernels = aggregateKernels([
    { name: "A", kernelTimeMs: 5 },
    { name: "B", kernelTimeMs: 3 },
    { name: "C", kernelTimeMs: 1 },
    { name: "D", kernelTimeMs: 1 },
    { name: "x__op", kernelTimeMs: 4 },
  ]);
  const p: StepProfile = {
    backend: "wasm",
    threads: 1,
    config: "tiny",
    stepMs: 12,
    profiledStepMs: 13,
    kernelMs: 10,
    overheadMs: 3,
    kernelCalls: 4,
    kernels,
  };
  const text = formatProfile(p, 2);
  assert.match(text, /^wasm x1 tiny: 12\.0 ms\/step unprofiled, 13\.0 profiled/);
  assert.match(text, /│ A +│ +5\.00 │ +1 │ +50\.0% │/);
  assert.match(text, /│ \(2 other kernels\) +│ +2\.00 │ +2 │ +20\.0% │/);
  assert.match(text, /│ all kernels +│ +10\.0 │ +4 │ 100\.0% │/);
  assert.match(text, /│ non-kernel overhead +│ +3\.00 │/);
  assert.match(text, /│ x__op \(op wrapper, included above\) +│ +4\.00 │/);
  assert.doesNotMatch(text, /│ C /);
  const rows = profileRows({ ...p, kernels: [{ name: "BatchMatMul", ms: 4, calls: 2, share: 0.4 }, ...kernels] }, 2);
  assert.deepEqual(rows.map((r) => r.kernel), ["(matmuls)", "(all kernels)", "(outside kernels)", "BatchMatMul", "A"]);
  assert.equal(rows[0].ms, 4);
  assert.equal(rows[0].stepSharePct, 100 * 4 / 13);
  assert.ok(MATMUL_KERNEL.test("MemtrainCausalQkvGrad") && MATMUL_KERNEL.test("_FusedMatMul"));
  assert.ok(!MATMUL_KERNEL.test("MemtrainGelu"));
});

Deno.test("bench: `--profile --configs tiny --out DIR` prints per-kernel tables and writes profile.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Two threads with and without the GEMM workers: two blas profiles with the same backend and threads.
    const out = await bench([
      "--profile",
      "--configs",
      "tiny",
      "--threads",
      "1,2",
      "--workers",
      "--min-ms",
      "0",
      "--out",
      dir,
    ]);
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.match(stdout, /wasm x1 tiny: [\d.]+ ms\/step unprofiled/);
    assert.match(stdout, /│ non-kernel overhead +│/);
    assert.match(stdout, /│ MemtrainGelu +│/, "the wasm step runs the fused kernels");
    const { rows, profiles, meta } = JSON.parse(await Deno.readTextFile(`${dir}/profile.json`));
    assert.ok(meta.provenance?.git?.commit, "profile.json records start-time provenance");
    assert.ok(meta.date && meta.cores >= 1);
    assert.ok(profiles.length >= 1 && profiles.every((p: StepProfile) => p.config === "tiny"));
    for (const p of profiles as StepProfile[]) {
      assert.ok(p.stepMs > 0 && p.kernelMs > 0 && p.kernelCalls > 0);
      assert.ok(p.kernels.some((k) => k.name === "BatchMatMul"));
      const shares = p.kernels.reduce((s, k) => s + k.share, 0);
      assert.ok(Math.abs(shares - 1) < 1e-9, `shares sum to ${shares}`);
      // Each profile's rows are its own: the rows name the threading as the profile does.
      const own = rows.filter((r: ProfileRow) =>
        r.backend === p.backend && r.threads === p.threads && r.threading === p.threading
      );
      assert.equal(own.filter((r: ProfileRow) => r.kernel === "(all kernels)").length, 1);
      const mm = own.find((r: ProfileRow) => r.kernel === "(matmuls)");
      const bmm = p.kernels.find((k) => k.name === "BatchMatMul")!;
      assert.ok(mm.ms >= bmm.ms - 1e-12, "the matmul sum includes BatchMatMul");
      assert.ok(Math.abs(mm.stepSharePct - 100 * mm.ms / p.profiledStepMs) < 1e-9);
      const all = own.find((r: ProfileRow) => r.kernel === "(all kernels)");
      assert.equal(all.ms, p.kernelMs);
      assert.ok(own.some((r: ProfileRow) => r.kernel === "BatchMatMul"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench: --profile rejects --only, and --configs needs --profile", async () => {
  for (
    const [args, message] of [
      [["--profile", "--only", "sgemm"], /--only cannot be combined with --profile/],
      [["--configs", "tiny"], /--configs needs --profile/],
      [["--profile", "--configs", "huge"], /unknown GPT config "huge"/],
    ] as const
  ) {
    const out = await bench([...args]);
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), message);
  }
});
