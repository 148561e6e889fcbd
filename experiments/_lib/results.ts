/**
 * Result records: the JSON file each experiment run writes, and the environment it records.
 * @module
 */
import { blasPatchInfo } from "../../lib/backend/mod.ts";
import * as tf from "@tensorflow/tfjs";
import type { Row } from "./experiment.ts";
import { runGit } from "./git.ts";
import type { Provenance } from "./provenance.ts";

/** Where and how a run happened. */
export interface RunEnv {
  /** The active tfjs backend ("wasm", "cpu", ...). */
  backend: string;
  /** Deno version. */
  deno: string;
  /** TensorFlow.js version (`tf.version.tfjs`). */
  tfjs: string;
  /** Short commit hash, with "-dirty" for uncommitted changes; "unknown" outside a git checkout. */
  git: string;
  /** ISO 8601 start time of the run. */
  date: string;
  /** Whether the quick preset was applied. */
  quick: boolean;
  /** Compute threads: BLAS threads on blas (and whose: OpenBLAS's or memtrain's GEMM workers), else 1. */
  threads?: {
    count: number;
    via: "openblas" | "workers" | "workers+defer" | "single";
    /** With `--jobs N`: cells ran in up to N worker processes, each with `count` threads. */
    processes?: number;
  };
  /** What produced the result, recorded at the start and checked at the end (provenance.ts). */
  provenance?: Provenance;
  /** A result merged from `--shard` runs: where and when each shard ran (ratios across shards mix machines). */
  shards?: { index: number; backend: string; threads?: RunEnv["threads"]; date: string }[];
}

/** The JSON written to `<outDir>/<experiment>.json`. */
export interface ResultRecord {
  /** Experiment name. */
  experiment: string;
  /** The fully resolved config (defaults, quick preset and overrides applied). */
  config: Record<string, unknown>;
  /** Where and how the run happened. */
  env: RunEnv;
  /** The rows the experiment returned. */
  rows: Row[];
}

async function git(args: string[], cwd?: string): Promise<string | undefined> {
  const { ok, out } = await runGit(args, cwd);
  return ok ? out.trim() : undefined;
}

/**
 * The short commit hash of the checkout at `cwd` (default: the current directory), with "-dirty" when `git status`
 * reports changes, or "unknown" when git is missing or this is not a checkout.
 *
 * @example Usage
 * ```ts ignore
 * import { gitVersion } from "./results.ts";
 * console.log(await gitVersion()); // e.g. "3f2a9c1-dirty"
 * ```
 */
export async function gitVersion(cwd?: string): Promise<string> {
  const hash = await git(["rev-parse", "--short", "HEAD"], cwd);
  if (!hash) return "unknown";
  const status = await git(["status", "--porcelain"], cwd);
  return status ? `${hash}-dirty` : hash;
}

/** Options for {@linkcode collectEnv}. */
export interface CollectEnvOptions {
  /** The active backend name. */
  backend: string;
  /** Whether the quick preset was applied. */
  quick: boolean;
  /** The git version string. @default {await gitVersion()} */
  git?: string;
  /** The run's start time. @default {new Date()} */
  date?: Date;
}

/** Collects the {@linkcode RunEnv} of the current process. */
export async function collectEnv(options: CollectEnvOptions): Promise<RunEnv> {
  return {
    backend: options.backend,
    deno: Deno.version.deno,
    tfjs: tf.version.tfjs,
    git: options.git ?? await gitVersion(),
    date: (options.date ?? new Date()).toISOString(),
    quick: options.quick,
    threads: threadsInUse(),
  };
}

function threadsInUse(): RunEnv["threads"] {
  const b = blasPatchInfo();
  if (!b || b.threads === 1) return { count: 1, via: "single" };
  return { count: b.threads, via: b.pool ? (b.defer ? "workers+defer" : "workers") : "openblas" };
}

/**
 * Writes `record` as pretty JSON to `<dir>/<experiment>.json` (creating `dir`) and returns the file path.
 *
 * @example Usage
 * ```ts ignore
 * const path = await writeResults("experiments/results", record); // "experiments/results/baseline.json"
 * ```
 */
export function writeResults(dir: string, record: ResultRecord): Promise<string> {
  return writeJson(dir, `${record.experiment}.json`, record);
}

/**
 * Writes `value` as pretty JSON to `<dir>/<name>` (creating `dir`) and returns the file path. The write is atomic: a
 * temp file in the same folder, flushed to disk, then renamed over the target, so a kill never leaves half a file.
 */
export async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir.replace(/\/+$/, "") || "."}/${name}`;
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
    let at = 0;
    while (at < bytes.length) at += await file.write(bytes.subarray(at));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  return path;
}

/**
 * Checks that an experiment returned a non-empty array (empty is fine with `allowEmpty`: a shard may hold no cell) of
 * flat rows with a string `technique` and `model` and only string, number, boolean or null values; returns a
 * description of the first problem, or `undefined` when they are fine.
 */
export function checkRows(rows: unknown, allowEmpty = false): string | undefined {
  if (!Array.isArray(rows)) return `expected an array of rows, got ${rows === null ? "null" : typeof rows}`;
  if (rows.length === 0 && !allowEmpty) return "no rows (nothing was measured; check list-valued config keys)";
  for (const [i, row] of rows.entries()) {
    if (typeof row !== "object" || row === null || Array.isArray(row)) return `row ${i} is not an object`;
    for (const k of ["technique", "model"]) {
      if (typeof (row as Record<string, unknown>)[k] !== "string") return `row ${i} has no string "${k}"`;
    }
    for (const [k, v] of Object.entries(row)) {
      if (v !== null && !["string", "number", "boolean"].includes(typeof v)) {
        return `row ${i} key "${k}" is a ${typeof v}; use string, number, boolean or null`;
      }
    }
  }
  return undefined;
}
