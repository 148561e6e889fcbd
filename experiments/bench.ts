/**
 * `deno task bench [--cpu] [--out DIR] [--only NAME,...] [--sizes 256,512,1024] [--threads 1,2]`: runs every section
 * of the benchmark registry (`experiments/bench/mod.ts`) on wasm, blas (per thread count, when OpenBLAS loads) and
 * optionally cpu, prints one table per section and with `--out DIR` writes `DIR/bench.json`
 * (`{ rows: BenchRow[], meta: { date, deno, cores, loadavg } }`).
 * @module
 */
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { findBlas } from "../lib/backend/mod.ts";
import { type BenchBackend, benches, type BenchOptions, type BenchRow, useBackend } from "./bench/mod.ts";

const USAGE = `Usage: deno task bench [options]

Options:
  --cpu              also benchmark the (slow) cpu backend
  --out DIR          write DIR/bench.json ({ rows: [...], meta: {...} })
  --only NAMES       comma list of sections to run (available: ${benches.map((b) => b.name).join(", ")})
  --sizes LIST       square sgemm sizes (default: 256,512,1024)
  --threads LIST     BLAS thread counts for the blas backend (default: 1,2)
  --min-ms MS        measure each config for at least this long (default: 300)
  -h, --help         show this help`;

/** Parsed command line of the bench driver. */
interface BenchArgs {
  cpu: boolean;
  out?: string;
  only?: string[];
  threads: number[];
  options: BenchOptions;
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
      only: { type: "string" },
      sizes: { type: "string", default: "256,512,1024" },
      threads: { type: "string", default: "1,2" },
      "min-ms": { type: "string", default: "300" },
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
  return {
    cpu: values.cpu,
    out: values.out,
    only,
    threads: intList("threads", values.threads),
    options: { sizes: intList("sizes", values.sizes), minMs, minReps: 5 },
  };
}

function backendsToRun(args: BenchArgs): { backends: BenchBackend[]; notes: string[] } {
  const backends: BenchBackend[] = [{ name: "wasm", threads: 1 }];
  const notes: string[] = [];
  const blas = findBlas();
  if (blas.lib) backends.push(...args.threads.map((threads) => ({ name: "blas" as const, threads })));
  else notes.push("blas skipped: no BLAS library found");
  if (args.cpu) backends.push({ name: "cpu", threads: 1 });
  return { backends, notes };
}

function printTable(title: string, rows: BenchRow[]): void {
  const table = new Table({
    head: ["backend", "threads", "config", "ms/step", "GFLOP/s", "sgemm GFLOP/s"],
    style: { head: [], border: [] },
    colAligns: ["left", "right", "left", "right", "right", "right"],
  });
  for (const r of rows) {
    table.push([
      r.backend,
      r.threads,
      r.config,
      r.msPerStep.toFixed(r.msPerStep < 10 ? 3 : 1),
      r.gflops.toFixed(1),
      r.sgemmGflops?.toFixed(1) ?? "",
    ]);
  }
  console.log(`\n${title}\n${table.toString()}`);
}

function loadavg(): number[] | undefined {
  try {
    return Deno.loadavg();
  } catch {
    return undefined; // no --allow-sys
  }
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
  const { backends, notes } = backendsToRun(args);
  const meta = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cores: navigator.hardwareConcurrency,
    loadavg: loadavg(),
  };
  console.log(
    `${meta.cores} cores, load average ${
      meta.loadavg?.map((x) => x.toFixed(2)).join(" ") ?? "?"
    } (other load skews results)`,
  );
  for (const note of notes) console.log(note);
  const sections = benches.filter((b) => !args.only || args.only.includes(b.name));
  const all: BenchRow[] = [];
  const sgemmRef = new Map<string, { n: number; gflops: number }>(); // "backend/threads" -> at the largest sgemm size
  for (const bench of sections) {
    const rows: BenchRow[] = [];
    for (const backend of backends) {
      const info = await useBackend(backend);
      if (bench === sections[0]) console.log(`${backend.name} x${backend.threads}: ${info.notes.join("; ") || "-"}`);
      const key = `${backend.name}/${backend.threads}`;
      for (const r of await bench.run(backend, args.options)) {
        const row: BenchRow = { backend: backend.name, threads: backend.threads, ...r };
        if (bench.name === "sgemm") {
          row.sgemmGflops = r.gflops;
          const n = Number(r.config.slice("sgemm-".length));
          if ((sgemmRef.get(key)?.n ?? 0) <= n) sgemmRef.set(key, { n, gflops: r.gflops });
        } else if (sgemmRef.has(key)) {
          row.sgemmGflops = sgemmRef.get(key)!.gflops;
        }
        rows.push(row);
      }
    }
    printTable(`${bench.name}: ${bench.description}`, rows);
    all.push(...rows);
  }
  if (args.out) {
    await Deno.mkdir(args.out, { recursive: true });
    const path = `${args.out.replace(/\/+$/, "")}/bench.json`;
    await Deno.writeTextFile(path, JSON.stringify({ rows: all, meta }, null, 2) + "\n");
    console.log(`\nwrote ${path}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
