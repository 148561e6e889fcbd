/**
 * `deno task bench [--cpu] [--out DIR] [--only NAME,...] [--sizes 256,512,1024] [--threads 1,2]`: runs every section
 * of the benchmark registry (`experiments/bench/mod.ts`) on wasm, blas (per thread count, when OpenBLAS loads) and
 * optionally cpu, prints one table per section and with `--out DIR` writes `DIR/bench.json`
 * (`{ rows: BenchRow[], meta: { date, deno, cores, loadavg } }`).
 *
 * `deno task bench --profile [--configs gpt-bench,tiny] [--top N] [--steps N]` profiles one GPT training step per
 * backend instead (`experiments/bench/profile.ts`): per-kernel ms, calls and share, plus the non-kernel overhead;
 * with `--out DIR` it writes `DIR/profile.json` (`{ profiles: StepProfile[], meta }`).
 * @module
 */
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { backendOptionsFromEnv, findBlas } from "../lib/backend/mod.ts";
import {
  type BenchBackend,
  benches,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  threadingOf,
  useBackend,
} from "./bench/mod.ts";
import { GPT_BENCH_CONFIGS } from "./bench/gpt_step.ts";
import { formatProfile, profileGptStep, profileRows, type StepProfile } from "./bench/profile.ts";
import { finishProvenance, publishRefusal, startProvenance, versionLabel } from "./_lib/provenance.ts";
import { isUnderResults } from "./_lib/results_dir.ts";

const USAGE = `Usage: deno task bench [options]

Options:
  --cpu              also benchmark the (slow) cpu backend
  --out DIR          write DIR/bench.json ({ rows: [...], meta: {...} }); under experiments/results/ only from a
                     clean tree
  --allowDirty       let a tree with uncommitted changes write under experiments/results/ (recorded in meta)
  --only NAMES       comma list of sections to run (available: ${benches.map((b) => b.name).join(", ")})
  --sizes LIST       square sgemm sizes (default: 256,512,1024)
  --threads LIST     BLAS thread counts for the blas backend (default: 1,2)
  --rounds N         measure every section on every backend N times, interleaved: a row gives the median round's
                     time, and its sgemm share and 2-thread speedup as medians of per-round ratios (default: 1)
  --workers          also run the blas rows with more than 1 thread on memtrain's GEMM worker threads
  --defer            ... and on the workers with deferred weight gradients (MEMTRAIN_BLAS_DEFER=1)
  --min-ms MS        measure each config for at least this long (default: 300)
  --profile          profile one GPT training step per backend (per-kernel table) instead of the sections
  --configs NAMES    GPT configs to profile (default: ${Object.keys(GPT_BENCH_CONFIGS).join(",")}; cpu: tiny only)
  --top N            kernels listed per profile table (default: 20)
  --steps N          profiled steps averaged per table (default: 1)
  -h, --help         show this help`;

/** Parsed command line of the bench driver. */
interface BenchArgs {
  cpu: boolean;
  out?: string;
  allowDirty: boolean;
  only?: string[];
  threads: number[];
  workers: boolean;
  defer: boolean;
  rounds: number;
  options: BenchOptions;
  /** Set with --profile. */
  profile?: { configs: string[]; top: number; steps: number };
}

function intList(name: string, text: string): number[] {
  const list = text.split(",").map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new RangeError(`--${name} must be a comma list of positive integers: current value is "${text}"`);
  }
  return list;
}

function parse(args: string[]): BenchArgs | undefined {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      cpu: { type: "boolean", default: false },
      out: { type: "string" },
      allowDirty: { type: "boolean", default: false },
      only: { type: "string" },
      sizes: { type: "string", default: "256,512,1024" },
      threads: { type: "string", default: "1,2" },
      workers: { type: "boolean", default: false },
      defer: { type: "boolean", default: false },
      rounds: { type: "string", default: "1" },
      "min-ms": { type: "string", default: "300" },
      profile: { type: "boolean", default: false },
      configs: { type: "string" },
      top: { type: "string", default: "20" },
      steps: { type: "string", default: "1" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const only = values.only?.split(",").map((s) => s.trim());
  const unknown = only?.filter((n) => !benches.some((b) => b.name === n)) ?? [];
  if (unknown.length) throw new RangeError(`--only: unknown section "${unknown[0]}"`);
  const minMs = Number(values["min-ms"]);
  if (!(minMs >= 0)) {
    throw new RangeError(`--min-ms must be a non-negative number: current value is "${values["min-ms"]}"`);
  }
  let profile: BenchArgs["profile"];
  if (values.profile) {
    if (only) throw new RangeError("--only cannot be combined with --profile (use --configs)");
    const configs = values.configs?.split(",").map((s) => s.trim()) ?? Object.keys(GPT_BENCH_CONFIGS);
    const bad = configs.find((c) => !Object.hasOwn(GPT_BENCH_CONFIGS, c));
    if (bad !== undefined) {
      throw new RangeError(`--configs: unknown GPT config "${bad}" (available: ${Object.keys(GPT_BENCH_CONFIGS)})`);
    }
    profile = { configs, top: intList("top", values.top)[0], steps: intList("steps", values.steps)[0] };
  } else if (values.configs !== undefined) {
    throw new RangeError("--configs needs --profile");
  }
  return {
    cpu: values.cpu,
    out: values.out,
    allowDirty: values.allowDirty,
    only,
    threads: intList("threads", values.threads),
    workers: values.workers,
    defer: values.defer,
    rounds: intList("rounds", values.rounds)[0],
    options: { sizes: intList("sizes", values.sizes), minMs, minReps: 5 },
    profile,
  };
}

function backendsToRun(args: BenchArgs): { backends: BenchBackend[]; notes: string[] } {
  const backends: BenchBackend[] = [{ name: "wasm", threads: 1 }];
  const notes: string[] = [];
  const blas = findBlas(backendOptionsFromEnv().blasPath); // as initBackend will look it up
  if (blas.lib) {
    for (const threads of args.threads) {
      backends.push({ name: "blas", threads });
      if (args.workers && threads > 1) backends.push({ name: "blas", threads, pool: true });
      if (args.defer && threads > 1) backends.push({ name: "blas", threads, pool: true, defer: true });
    }
  } else notes.push("blas skipped: no BLAS library found");
  if (args.cpu) backends.push({ name: "cpu", threads: 1 });
  return { backends, notes };
}

function label(backend: BenchBackend): string {
  const threading = threadingOf(backend);
  return `${backend.name} x${backend.threads}${threading ? ` (${threading})` : ""}`;
}

function printTable(title: string, rows: BenchRow[]): void {
  const table = new Table({
    head: ["backend", "threads", "config", "ms/step", "GFLOP/s", "sgemm GFLOP/s", "% of sgemm", "vs 1 thread"],
    style: { head: [], border: [] },
    colAligns: ["left", "right", "left", "right", "right", "right", "right", "right"],
  });
  for (const r of rows) {
    table.push([
      r.backend,
      r.threading ? `${r.threads} (${r.threading})` : r.threads,
      r.config,
      r.msPerStep.toFixed(r.msPerStep < 10 ? 3 : 1),
      r.gflops.toFixed(1),
      r.sgemmGflops?.toFixed(1) ?? "",
      r.sgemmShare === undefined ? "" : `${(100 * r.sgemmShare).toFixed(0)}%`,
      r.speedup === undefined ? "" : `${r.speedup.toFixed(2)}x`,
    ]);
  }
  console.log(`\n${title}\n${table.toString()}`);
}

async function main(argv: string[]): Promise<number> {
  let args: BenchArgs | undefined;
  try {
    args = parse(argv);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    return 2;
  }
  if (!args) {
    console.log(USAGE);
    return 0;
  }
  // Provenance first (provenance.ts): what ran is named by the checkout at the start, checked again at the end.
  const exclude = args.out !== undefined ? [args.out] : [];
  const provenance = await startProvenance({ command: ["deno", "task", "bench", ...argv], exclude });
  if (args.out !== undefined && isUnderResults(args.out)) {
    const refusal = publishRefusal(provenance.git, args.allowDirty);
    if (refusal) {
      console.error(`error: ${refusal}`);
      return 2;
    }
  }
  if (args.allowDirty && provenance.git.dirty) provenance.allowDirty = true;
  const { backends, notes } = backendsToRun(args);
  const meta: Record<string, unknown> = {
    git: versionLabel(provenance.git),
    date: provenance.start,
    deno: Deno.version.deno,
    cores: navigator.hardwareConcurrency,
    loadavg: provenance.load.before.length ? provenance.load.before : undefined, // (empty without --allow-sys)
    rounds: args.rounds,
    minMs: args.options.minMs,
  };
  console.log(
    `${meta.cores} cores, load average ${
      (meta.loadavg as number[] | undefined)?.map((x) => x.toFixed(2)).join(" ") ?? "?"
    } (other load skews results)`,
  );
  for (const note of notes) console.log(note);
  if (args.profile) {
    const profiles: StepProfile[] = [];
    for (const backend of backends) {
      const info = await useBackend(backend);
      console.log(`\n${label(backend)}: ${info.notes.join("; ") || "-"}`);
      for (const config of args.profile.configs) {
        if (backend.name === "cpu" && config !== "tiny") continue; // minutes per step on cpu
        const p = await profileGptStep(backend, config, { steps: args.profile.steps, minMs: args.options.minMs });
        console.log(`\n${formatProfile(p, args.profile.top)}`);
        profiles.push(p);
      }
    }
    meta.provenance = await finishProvenance(provenance, undefined, exclude);
    const rows = profiles.flatMap((p) => profileRows(p, args.profile!.top));
    if (args.out) await writeJson(args.out, "profile.json", { rows, profiles, meta });
    return 0;
  }
  const sections = benches.filter((b) => !args.only || args.only.includes(b.name));
  // Each round measures every section on every backend once, so that slow phases of a shared machine hit all of them,
  // and a row's sgemm reference of the same round was measured minutes, not a whole run, away.
  const results = new Map(
    sections.map((b) => [b, new Map<BenchBackend, BenchResult[][]>(backends.map((x) => [x, []]))]),
  );
  for (let round = 0; round < args.rounds; round++) {
    for (const bench of sections) {
      for (const backend of backends) {
        const info = await useBackend(backend);
        if (bench === sections[0] && round === 0) console.log(`${label(backend)}: ${info.notes.join("; ") || "-"}`);
        const got = await bench.run(backend, args.options);
        got.forEach((r, i) => (results.get(bench)!.get(backend)![i] ??= []).push(r));
      }
    }
  }
  const all: BenchRow[] = [];
  const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[(xs.length - 1) >> 1];
  // "backend/threads/threading" -> per round, the GFLOP/s of the largest sgemm size (and that size).
  const sgemmRef = new Map<string, { n: number; rounds: number[] }>();
  const sgemm = sections.find((b) => b.name === "sgemm");
  for (const backend of backends) {
    for (const runs of sgemm ? results.get(sgemm)!.get(backend)! : []) {
      const key = `${backend.name}/${backend.threads}/${threadingOf(backend)}`;
      const n = Number(runs[0].config.slice("sgemm-".length));
      if ((sgemmRef.get(key)?.n ?? 0) <= n) sgemmRef.set(key, { n, rounds: runs.map((r) => r.gflops) });
    }
  }
  for (const bench of sections) {
    const rows: BenchRow[] = [];
    for (const backend of backends) {
      const threading = threadingOf(backend);
      const ref = sgemmRef.get(`${backend.name}/${backend.threads}/${threading}`);
      // The same backend on one thread, measured in the same rounds (per-round ratios cancel the machine's phases).
      const one = backend.threads > 1
        ? backends.find((b) => b.name === backend.name && b.threads === 1 && !threadingOf(b))
        : undefined;
      for (const [c, runs] of results.get(bench)!.get(backend)!.entries()) {
        // The round with the median time.
        const r = runs.slice().sort((a, b) => a.msPerStep - b.msPerStep)[(runs.length - 1) >> 1];
        const row: BenchRow = {
          backend: backend.name,
          threads: backend.threads,
          ...(threading ? { threading } : {}),
          ...r,
        };
        if (bench.name === "sgemm") {
          row.sgemmGflops = r.gflops;
          row.sgemmShare = 1;
        } else if (ref && ref.rounds.length === runs.length) {
          row.sgemmGflops = median(ref.rounds);
          row.sgemmShare = median(runs.map((x, i) => x.gflops / ref.rounds[i]));
        }
        const base = one && results.get(bench)!.get(one)![c];
        if (base && base.length === runs.length && base.every((b, i) => b.config === runs[i].config)) {
          row.speedup = median(runs.map((x, i) => base[i].msPerStep / x.msPerStep));
        }
        rows.push(row);
      }
    }
    printTable(`${bench.name}: ${bench.description}`, rows);
    all.push(...rows);
  }
  meta.provenance = await finishProvenance(provenance, undefined, exclude);
  if (args.out) await writeJson(args.out, "bench.json", { rows: all, meta });
  return 0;
}

async function writeJson(dir: string, file: string, value: unknown): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir.replace(/\/+$/, "")}/${file}`;
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
  console.log(`\nwrote ${path}`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
