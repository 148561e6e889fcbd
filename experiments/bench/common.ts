/**
 * Types and timing helpers shared by the benchmark sections.
 * @module
 */
import { type BackendInfo, initBackend } from "../../lib/backend/mod.ts";

/** A backend configuration to benchmark. */
export interface BenchBackend {
  /** memtrain backend name. */
  name: "wasm" | "blas" | "cpu";
  /** Threads used for compute (BLAS threads for blas; 1 for wasm and cpu, which are single-threaded in Deno). */
  threads: number;
  /** blas with several threads: split matmuls with memtrain's GEMM worker threads (true) or OpenBLAS's. @default {false} */
  pool?: boolean;
  /** blas with the pool: defer weight-gradient matmuls to a worker. @default {false} */
  defer?: boolean;
}

/** How a blas row used more than one thread: memtrain's GEMM workers (deferring weight gradients or not) or OpenBLAS's. */
export type Threading = "workers" | "workers+defer" | "openblas";

/** The threading of a bench backend (undefined for single-threaded rows). */
export function threadingOf(backend: BenchBackend): Threading | undefined {
  if (backend.name !== "blas" || backend.threads === 1) return undefined;
  return backend.defer ? "workers+defer" : backend.pool ? "workers" : "openblas";
}

/** One result row (also the row format of `bench.json`). */
export interface BenchRow {
  /** memtrain backend name. */
  backend: string;
  /** Compute threads. */
  threads: number;
  /** What was measured, e.g. "sgemm-512". */
  config: string;
  /** Median milliseconds per step (per matmul for sgemm rows). */
  msPerStep: number;
  /** Useful GFLOP/s of the step. */
  gflops: number;
  /**
   * The backend's square-sgemm GFLOP/s (the largest n measured, median over the rounds) for comparison; equals
   * `gflops` on sgemm rows.
   */
  sgemmGflops?: number;
  /** For blas rows with more than one thread: whose threads split the matmuls. */
  threading?: Threading;
  /**
   * The share of the same run's sgemm throughput (of the same backend and threads): the median over the interleaved
   * rounds of the per-round ratio of this row's GFLOP/s to that round's sgemm GFLOP/s (1 on sgemm rows).
   */
  sgemmShare?: number;
  /**
   * For rows with more than one thread: how many times faster than the same backend's one-thread row of this config,
   * the median over the interleaved rounds of the per-round ratio of ms/step.
   */
  speedup?: number;
}

/** What a bench returns per configuration; the driver adds backend, threads and sgemmGflops. */
export type BenchResult = Pick<BenchRow, "config" | "msPerStep" | "gflops">;

/** Options shared by all benches. */
export interface BenchOptions {
  /** Square sgemm sizes. */
  sizes: number[];
  /** Keep measuring until this many milliseconds have passed (at least `minReps` reps). */
  minMs: number;
  /** Minimum measured repetitions. */
  minReps: number;
}

/** One benchmark section. */
export interface Bench {
  /** Section name (for `--only`). */
  name: string;
  /** One-line description printed above its table. */
  description: string;
  /** Measures on the active backend (already initialized to `backend`). */
  run(backend: BenchBackend, options: BenchOptions): Promise<BenchResult[]> | BenchResult[];
}

/** Initializes `backend` (switching the BLAS patch on or off as needed). */
export function useBackend(backend: BenchBackend): Promise<BackendInfo> {
  return initBackend({
    backend: backend.name,
    blasThreads: backend.name === "blas" ? backend.threads : undefined,
    blasPool: backend.pool ?? backend.defer ?? false,
    blasDefer: backend.defer ?? false,
  });
}

/** The result of {@linkcode timeMedian}. */
export interface Timing {
  /** Median milliseconds per call. */
  medianMs: number;
  /** Measured calls. */
  reps: number;
}

/**
 * Times `fn` (which must finish its work synchronously or return a promise that does): `warmup` untimed calls, then
 * timed calls until at least `minReps` calls and `minMs` milliseconds, at most `maxReps`.
 */
export async function timeMedian(
  fn: () => unknown,
  { warmup = 2, minReps = 5, minMs = 300, maxReps = 200 } = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps && (times.length < minReps || performance.now() - start < minMs)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  return { medianMs: times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2, reps: times.length };
}
