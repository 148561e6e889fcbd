/**
 * Sweeps beyond one machine: `--shard I/N` runs the cells `I-1, I-1+N, I-1+2N, ...` of an experiment (a fixed
 * round-robin split, the same on every machine) and writes their rows, unfinalized, with the cell each row came from;
 * `deno task experiment merge DIR...` joins the shards of one sweep back into one result in cell order and applies
 * the experiment's `finalize` (ratios to the baseline cell, ...). Merging refuses shards of different experiments,
 * configs, git revisions, quick modes or shard counts, and missing or repeated shards. Any scheduler that runs N
 * copies of a command with an index runs the shards (Slurm array jobs, GNU parallel, Kubernetes indexed Jobs; see
 * the README).
 * @module
 */
import { UsageError } from "./errors.ts";
import type { Registry, Row } from "./experiment.ts";
import type { ResultRecord } from "./results.ts";

/** What a shard's result record says about its part of the sweep. */
export interface ShardInfo {
  /** This shard's number, 1-based. */
  index: number;
  /** Number of shards of the sweep. */
  count: number;
  /** Number of cells of the whole sweep. */
  totalCells: number;
  /** `[cell index, number of rows]` of each cell this shard ran, in order; `rows` is their concatenation. */
  cells: [number, number][];
}

/** A shard's result record: a {@linkcode ResultRecord} of unfinalized rows plus {@linkcode ShardInfo}. */
export interface ShardRecord extends ResultRecord {
  /** Which part of the sweep this is. */
  shard: ShardInfo;
}

/**
 * The cell indices of shard `index` of `count` among `total` cells (round-robin, so every shard gets a mix of the
 * sweep's models and techniques).
 *
 * @example Usage
 * ```ts
 * import { shardCells } from "./shards.ts";
 * shardCells(7, 2, 3); // [1, 4]
 * ```
 */
export function shardCells(total: number, index: number, count: number): number[] {
  return Array.from({ length: total }, (_, i) => i).filter((i) => i % count === index - 1);
}

/**
 * The file a shard writes in its `--out` directory: `<experiment>.shard-<I>-of-<N>.json` (so shards may share one
 * directory).
 *
 * @example Usage
 * ```ts
 * import { shardFileName } from "./shards.ts";
 * shardFileName("memory", 2, 3); // "memory.shard-2-of-3.json"
 * ```
 */
export function shardFileName(experiment: string, index: number, count: number): string {
  return `${experiment}.shard-${index}-of-${count}.json`;
}

const SHARD_FILE = /\.shard-\d+-of-\d+\.json$/;

/** The shard files named by `paths`: files as given, directories searched (not recursively) for shard files. */
export async function findShardFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      throw new UsageError(`cannot merge: ${path} does not exist`);
    }
    if (info.isFile) {
      files.push(path);
      continue;
    }
    const found: string[] = [];
    for await (const e of Deno.readDir(path)) if (e.isFile && SHARD_FILE.test(e.name)) found.push(e.name);
    if (found.length === 0) throw new UsageError(`cannot merge: ${path} holds no shard file (*.shard-I-of-N.json)`);
    files.push(...found.sort().map((n) => `${path.replace(/\/+$/, "")}/${n}`));
  }
  return [...new Set(files)];
}

const stable = (v: unknown): string =>
  JSON.stringify(
    v,
    (_, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
        : x,
  );

/**
 * Joins the shards of one sweep into one result: rows in cell order, finalized by the experiment. The env is the
 * first shard's, with `date` the earliest start and `shards` listing each shard's backend, threads and date.
 *
 * @throws {UsageError} when the shards differ in experiment, config, git revision, quick mode or shard count, when a
 * shard is missing or repeated, or when the experiment is not registered.
 *
 * @example Usage
 * ```ts ignore
 * const merged = mergeShards(records, experiments);
 * ```
 */
export function mergeShards(records: ShardRecord[], registry: Registry): ResultRecord {
  if (records.length === 0) throw new UsageError("cannot merge: no shard files given");
  const bad = (why: string): never => {
    throw new UsageError(`cannot merge: ${why}`);
  };
  for (const r of records) {
    if (!r.shard || !Array.isArray(r.shard.cells)) {
      bad(`a record of "${r.experiment}" is not a shard (no "shard" field)`);
    }
  }
  const first = records[0];
  const differ = (what: string, get: (r: ShardRecord) => unknown) => {
    const values = [...new Set(records.map((r) => stable(get(r))))];
    if (values.length > 1) bad(`the shards have different ${what}: ${values.join(" vs ")}`);
  };
  differ("experiments", (r) => r.experiment);
  differ("git revisions", (r) => r.env.git);
  differ("quick modes", (r) => r.env.quick);
  differ("shard counts", (r) => r.shard.count);
  differ("cell counts", (r) => r.shard.totalCells);
  const configs = [...new Set(records.map((r) => stable(r.config)))];
  if (configs.length > 1) {
    const keys = Object.keys(first.config).filter((k) =>
      records.some((r) => stable(r.config[k]) !== stable(first.config[k]))
    );
    bad(`the shards have different configs (keys: ${keys.join(", ") || "(key sets differ)"})`);
  }
  const experiment = Object.hasOwn(registry, first.experiment) ? registry[first.experiment] : undefined;
  if (!experiment) bad(`experiment "${first.experiment}" is not registered`);
  const count = first.shard.count;
  const seen = new Map<number, ShardRecord>();
  for (const r of records) {
    if (seen.has(r.shard.index)) bad(`shard ${r.shard.index}/${count} is given twice`);
    seen.set(r.shard.index, r);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length) bad(`missing shard(s) ${missing.map((i) => `${i}/${count}`).join(", ")}`);
  const byCell: Row[][] = new Array(first.shard.totalCells);
  for (const r of records) {
    let at = 0;
    for (const [cell, n] of r.shard.cells) {
      if (byCell[cell]) bad(`cell ${cell} appears in two shards`);
      byCell[cell] = r.rows.slice(at, at + n);
      at += n;
    }
  }
  const absent = [...byCell.keys()].filter((i) => !byCell[i]);
  if (absent.length) bad(`cells ${absent.join(", ")} are in no shard`);
  const raw = byCell.flat();
  const rows = experiment!.finalize ? experiment!.finalize(raw, first.config as never) : raw;
  const sorted = [...records].sort((a, b) => a.shard.index - b.shard.index);
  const date = sorted.map((r) => r.env.date).sort()[0];
  return {
    experiment: first.experiment,
    config: first.config,
    env: {
      ...first.env,
      date,
      shards: sorted.map((r) => ({
        index: r.shard.index,
        backend: r.env.backend,
        threads: r.env.threads,
        date: r.env.date,
      })),
    },
    rows,
  };
}
