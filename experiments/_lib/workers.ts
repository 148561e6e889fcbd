/**
 * `--jobs N` (and experiments that run each cell in a fresh process): an experiment's cells run in worker processes
 * (a wasm process uses one core). Each worker is the same command line plus `--cell I`; it prints its rows as one
 * JSON line after {@linkcode ROWS_MARKER}.
 * @module
 */
import type { Row } from "./experiment.ts";
import type { RunEnv } from "./results.ts";

type Via = NonNullable<RunEnv["threads"]>["via"];

/** Prefix of the line a worker prints its rows on. */
export const ROWS_MARKER = "@@memtrain-rows ";

/** Options for {@linkcode runCellsInWorkers}. */
export interface WorkerOptions {
  /** The experiment command line of the parent, without `--jobs`. */
  args: string[];
  /** The indices of the cells to run. */
  cells: number[];
  /** Maximum concurrent workers. */
  jobs: number;
  /** Progress lines (stderr of the workers, prefixed with their cell). */
  log(msg: string): void;
  /** Called when cell `index` starts, with the number of cells done so far. */
  onCell?(index: number, done: number): void;
  /** The script to run. @default {experiments/run.ts next to this folder} */
  script?: string;
  /** Called with each cell's rows as soon as its worker finishes (the sweep journals them). */
  onRows?(index: number, rows: Row[]): Promise<void> | void;
  /** Checked before each cell starts: true stops starting cells, and a failed cell is then left unfinished. */
  stop?(): boolean;
  /** Called with each worker process when it starts (a second Ctrl-C kills them). */
  onSpawn?(child: Deno.ChildProcess): void;
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) !== -1) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(buf);
}

/**
 * The BLAS threads of each of `jobs` concurrent workers: `MEMTRAIN_BLAS_THREADS` when set, else the cores shared
 * among them (at least one each).
 *
 * @example Usage
 * ```ts
 * import { workerThreads } from "./workers.ts";
 * workerThreads(2); // 1 on a 2-core machine (unless MEMTRAIN_BLAS_THREADS is set)
 * ```
 */
export function workerThreads(jobs: number): number {
  const set = Deno.env.get("MEMTRAIN_BLAS_THREADS");
  if (set) return Number(set);
  return Math.max(1, Math.floor((navigator.hardwareConcurrency ?? 1) / Math.max(1, jobs)));
}

/**
 * What `env.threads` says of cells run in worker processes with `count` BLAS threads each. The workers inherit this
 * process's environment, so they use the same mechanism as it (`parentVia`: its own `env.threads.via`, e.g. the GEMM
 * worker pool under `MEMTRAIN_BLAS_POOL=1`); OpenBLAS threads when this process itself runs single-threaded.
 *
 * @example Usage
 * ```ts
 * import { workerThreadsEnv } from "./workers.ts";
 * console.log(workerThreadsEnv(2, "workers")); // { count: 2, via: "workers" }
 * console.log(workerThreadsEnv(1, "workers")); // { count: 1, via: "single" }
 * ```
 */
export function workerThreadsEnv(
  count: number,
  parentVia: Via | undefined,
): { count: number; via: Via } {
  if (count <= 1) return { count, via: "single" };
  return { count, via: parentVia === undefined || parentVia === "single" ? "openblas" : parentVia };
}

/**
 * Runs every cell in a worker process, at most `jobs` at a time, and returns each cell's rows, in the order of
 * `cells` (`undefined` for a cell not run because `stop()` turned true).
 */
export async function runCellsInWorkers(options: WorkerOptions): Promise<(Row[] | undefined)[]> {
  const script = options.script ?? new URL("../run.ts", import.meta.url).pathname;
  const results: (Row[] | undefined)[] = new Array(options.cells.length).fill(undefined);
  let next = 0, done = 0, failed = false;
  const env = { MEMTRAIN_BLAS_THREADS: String(workerThreads(options.jobs)), NO_COLOR: "1" };
  const worker = async () => {
    while (next < options.cells.length && !options.stop?.() && !failed) {
      const k = next++, i = options.cells[k];
      options.onCell?.(i, done);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...options.args, "--cell", String(i)],
        env,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      options.onSpawn?.(child);
      let rows: Row[] | undefined;
      const errors: string[] = [];
      await Promise.all([
        pipeLines(child.stdout, (line) => {
          if (line.startsWith(ROWS_MARKER)) rows = JSON.parse(line.slice(ROWS_MARKER.length));
        }),
        pipeLines(child.stderr, (line) => {
          if (line.startsWith("error: ")) errors.push(line.slice(7));
          options.log(`[cell ${i}] ${line}`);
        }),
      ]);
      const status = await child.status;
      if (!status.success || !rows) {
        if (options.stop?.()) continue; // interrupted: the cell stays unfinished
        throw new Error(`cell ${i} failed (exit ${status.code})${errors.length ? `: ${errors.join("; ")}` : ""}`);
      }
      results[k] = rows;
      await options.onRows?.(i, rows);
      done++;
    }
  };
  // A failed cell stops new cells from starting; the running ones finish (their rows reach onRows) before it throws.
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(options.jobs, options.cells.length) }, () =>
      worker().catch((e) => {
        failed = true;
        throw e;
      })),
  );
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}
