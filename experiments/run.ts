/**
 * `deno task experiment <name> [--quick] [--out DIR] [--backend=NAME] [--key=value ...]`: runs a registered
 * experiment, prints its rows as a table and writes `DIR/<name>.json`. See `--help`.
 * @module
 */
import { type BackendName, initBackend } from "../lib/backend/mod.ts";
import { parseCli, USAGE } from "./_lib/cli.ts";
import { resolveConfig } from "./_lib/config.ts";
import { UnknownExperimentError, UsageError } from "./_lib/errors.ts";
import { type AnyExperiment, type Registry, type Row, type RunContext } from "./_lib/experiment.ts";
import { describeExperiment, listExperiments } from "./_lib/help.ts";
import { createProgress, type Progress } from "./_lib/progress.ts";
import { finishProvenance, publishRefusal, startProvenance, versionLabel } from "./_lib/provenance.ts";
import { checkRows, collectEnv, writeJson, writeResults } from "./_lib/results.ts";
import {
  findShardFiles,
  mergeShards,
  shardCells,
  shardFileName,
  type ShardInfo,
  type ShardRecord,
} from "./_lib/shards.ts";
import { didYouMean } from "./_lib/suggest.ts";
import { renderTable } from "./_lib/table.ts";
import { ROWS_MARKER, workerThreads, workerThreadsEnv } from "./_lib/workers.ts";
import { isUnderResults, RESULTS_DIR } from "./_lib/results_dir.ts";
import { INTERRUPTED_EXIT, resumeCommand } from "./_lib/interrupt.ts";
import { journalFileName } from "./_lib/journal.ts";
import { runSweep } from "./_lib/sweep.ts";
import { trainingOptions } from "./_lib/training.ts";

/** Where {@linkcode main} writes: `out` for results, `err` for progress and errors. Each call is one line. */
export interface MainIO {
  /** Writes one line of normal output. */
  out(s: string): void;
  /** Writes one line of diagnostics. */
  err(s: string): void;
}

/** Options for {@linkcode main} that tests replace. */
export interface MainOptions {
  /**
   * Returns the git version recorded in results; read when the run starts, so the code that ran is named and the
   * artifacts an experiment writes into its results directory do not mark it dirty. @default {the start-time
   * provenance's version (`versionLabel`, provenance.ts)}
   */
  gitVersion?: () => Promise<string>;
  /** The progress reporter. @default {a bar on a terminal's stderr, else plain lines through `io.err`} */
  progress?: Progress;
  /** The script worker processes run (with this command line plus `--cell I`). @default {this file} */
  workerScript?: string;
  /** The git checkout whose state the run's provenance records. @default {Deno.cwd()} */
  checkout?: string;
}

/** Printed under the table of a quick run. */
export const QUICK_NOTE = "note: a quick run is a smoke test: its losses, timings and ratios (peak, saved, time) " +
  "mean nothing; run without --quick for figures";

const MERGE_HINT = "deno task experiment merge DIR... [--out DIR]";

/** `merge DIR... [--out DIR]`: joins the shard files found in the DIRs into one result (see shards.ts). */
async function merge(args: string[], registry: Registry, io: MainIO): Promise<number> {
  const paths: string[] = [];
  let out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--out" || a.startsWith("--out=")) {
      out = a === "--out" ? args[++i] : a.slice(6);
      if (!out) throw new UsageError("option --out needs a value, e.g. --out=DIR");
    } else if (a.startsWith("-")) throw new UsageError(`unknown option "${a}" for merge. Usage: ${MERGE_HINT}`);
    else paths.push(a);
  }
  if (paths.length === 0) throw new UsageError(`merge needs the shards' directories. Usage: ${MERGE_HINT}`);
  const files = await findShardFiles(paths);
  const records: ShardRecord[] = [];
  for (const f of files) {
    try {
      records.push(JSON.parse(await Deno.readTextFile(f)));
    } catch (e) {
      throw new UsageError(`cannot merge: ${f} is not a result JSON (${e instanceof Error ? e.message : e})`);
    }
  }
  const merged = mergeShards(records, registry);
  if (merged.env.quick && out !== undefined && isUnderResults(out)) {
    throw new UsageError(`quick shards are smoke tests and are not written under ${RESULTS_DIR}/`);
  }
  const dir = out ?? await scratchDir(`${merged.experiment}-merged`, new Date(), merged.env.quick);
  const experiment = registry[merged.experiment];
  io.out(renderTable(merged.rows, experiment.columns));
  const backends = [...new Set(merged.env.shards!.map((s) => s.backend))];
  io.out(
    `merged ${records.length} shards of ${merged.experiment}` +
      (backends.length > 1 ? ` (backends ${backends.join(", ")}: time ratios across shards compare machines)` : ""),
  );
  io.out(`wrote ${await writeResults(dir, merged)}`);
  return 0;
}

/** Where runs without `--out` write: a fresh folder per run (gitignored), never the committed results. */
export const SCRATCH_DIR = "runs";

export { isUnderResults, RESULTS_DIR } from "./_lib/results_dir.ts";

/**
 * Claims a fresh folder for one run without `--out`: `runs/<name>-<UTC time>[-quick]` (with `-2`, `-3`, ... when two
 * runs start in the same second) and returns its path.
 */
export async function scratchDir(name: string, date: Date, quick: boolean, root = SCRATCH_DIR): Promise<string> {
  const stamp = date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const base = `${root}/${name}-${stamp}${quick ? "-quick" : ""}`;
  await Deno.mkdir(root, { recursive: true });
  for (let i = 1;; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

const consoleIO: MainIO = { out: (s) => console.log(s), err: (s) => console.error(s) };

/**
 * Runs the experiment command line and returns the exit code: 0 on success, 1 when the run failed, 2 for a usage
 * error (unknown experiment, unknown config key, bad value, bad backend). Errors print as one `error: ...` line; set
 * `MEMTRAIN_DEBUG=1` for stack traces.
 *
 * @example Usage
 * ```ts ignore
 * import { experiments } from "./registry.ts";
 * const code = await main(["baseline", "--quick"], experiments);
 * ```
 */
export async function main(
  args: string[],
  registry: Registry,
  io: MainIO = consoleIO,
  options: MainOptions = {},
): Promise<number> {
  const args0 = args;
  let claimed: string | undefined; // the scratch folder this run made (removed again if the run fails)
  let progress: Progress | undefined;
  let journal: string | undefined; // the sweep's cell journal, removed once the result JSON is written
  try {
    if (args[0] === "merge") return await merge(args.slice(1), registry, io);
    const cli = parseCli(args);
    if (cli.list) {
      io.out(listExperiments(registry));
      return 0;
    }
    if (cli.name === undefined) {
      (cli.help ? io.out : io.err)(USAGE);
      return cli.help ? 0 : 2;
    }
    const experiment = Object.hasOwn(registry, cli.name) ? registry[cli.name] : undefined;
    if (!experiment) {
      const names = Object.keys(registry).sort();
      throw new UnknownExperimentError(cli.name, names, didYouMean(cli.name, names));
    }
    if (cli.help) {
      io.out(describeExperiment(experiment));
      return 0;
    }
    const config = resolveConfig(experiment, cli.overrides, cli.quick);
    let backend: string;
    try {
      backend = (await initBackend({ backend: cli.backend as BackendName | undefined })).name;
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    if (cli.quick && cli.out !== undefined && isUnderResults(cli.out) && cli.cell === undefined) {
      throw new UsageError(
        `a quick run is a smoke test and is not written under ${RESULTS_DIR}/ (its figures mean nothing): ` +
          `drop --out (it then writes under ${SCRATCH_DIR}/) or give another directory`,
      );
    }
    const hasCells = experiment.cells !== undefined && experiment.runCell !== undefined;
    if (cli.shard && !hasCells) {
      throw new UsageError(`experiment "${cli.name}" defines no cells, so it cannot be sharded (--shard)`);
    }
    const date = new Date();
    // Provenance is taken before the run does anything, and checked again when it ends (provenance.ts).
    const exclude = cli.out !== undefined ? [cli.out] : [];
    const provenance = cli.cell === undefined
      ? await startProvenance({
        command: ["deno", "task", "experiment", ...args0],
        date,
        cwd: options.checkout,
        exclude,
      })
      : undefined;
    if (provenance && cli.out !== undefined && isUnderResults(cli.out)) {
      const refusal = publishRefusal(provenance.git, cli.allowDirty);
      if (refusal) throw new UsageError(refusal);
    }
    if (provenance && cli.allowDirty && provenance.git.dirty) provenance.allowDirty = true;
    if (cli.out === undefined && cli.cell === undefined) claimed = await scratchDir(cli.name, date, cli.quick);
    const outDir = cli.out ?? claimed ?? SCRATCH_DIR;
    progress = options.progress ?? createProgress({
      quiet: cli.quiet,
      tty: io === consoleIO && Deno.stderr.isTerminal() && Deno.env.get("CI") !== "true",
      writeLine: (s) => io.err(s),
    });
    const p = progress;
    const training = trainingOptions(outDir, cli);
    const ctx: RunContext = { quick: cli.quick, log: (m: string) => p.log(m), outDir, progress: p, training };
    if (cli.cell !== undefined) {
      // A worker of --jobs: run one cell and print its rows for the parent.
      const cells = experiment.cells?.(config) ?? [];
      if (!experiment.runCell || cli.cell >= cells.length) {
        throw new UsageError(`experiment "${cli.name}" has no cell ${cli.cell} (it has ${cells.length})`);
      }
      // Ctrl-C on a terminal reaches the workers too: the parent decides (finish this cell, or SIGTERM on a second).
      const ignore = () => {};
      if (Deno.build.os !== "windows") Deno.addSignalListener("SIGINT", ignore);
      let rows: Row[];
      try {
        rows = await experiment.runCell(config, cells[cli.cell], ctx);
      } finally {
        if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGINT", ignore);
      }
      p.done();
      io.out(ROWS_MARKER + JSON.stringify(rows));
      return 0;
    }
    p.log(
      `running ${cli.name}${cli.quick ? " (quick)" : ""} on ${backend}: ${commandLine(experiment, config, cli.quick)}`,
    );
    // The version recorded in env.git: the state provenance took at the start (the run's --out left out).
    const git = options.gitVersion ? await options.gitVersion() : versionLabel(provenance!.git);
    let rows: Row[];
    let shard: ShardInfo | undefined;
    const jobs = cli.jobs ?? 1;
    // Worker processes: with --jobs N > 1, and by default for experiments that want each cell in a fresh process.
    const inWorkers = hasCells && !cli.inProcess && (jobs > 1 || experiment.freshProcess === true);
    if (hasCells) {
      const all = experiment.cells!(config);
      const picked = cli.shard ? shardCells(all.length, cli.shard.index, cli.shard.count) : all.map((_, i) => i);
      if (cli.shard) {
        p.log(`shard ${cli.shard.index}/${cli.shard.count}: cells ${picked.join(", ") || "(none)"} of ${all.length}`);
      }
      if (inWorkers) {
        p.log(`${picked.length} cells in ${jobs > 1 ? `up to ${jobs}` : "one at a time in fresh"} worker processes`);
      }
      journal = `${outDir.replace(/\/+$/, "") || "."}/${journalFileName(cli.name, cli.shard)}`;
      await Deno.mkdir(outDir, { recursive: true });
      const resume = resumeCommand(args0, outDir);
      const sweep = await runSweep({
        experiment,
        config,
        quick: cli.quick,
        ctx,
        all,
        picked,
        journal,
        resume: cli.resume,
        workers: inWorkers ? { args: stripJobs(args0), jobs, script: options.workerScript } : undefined,
        resumeCommand: resume,
        git,
        err: (s) => io.err(s),
      });
      if (sweep.interrupted) {
        p.done();
        const finished = sweep.perCell.filter((r) => r !== undefined).length;
        io.err(`interrupted: ${finished} of ${picked.length} cells finished (in ${journal}); resume with: ${resume}`);
        claimed = undefined;
        return INTERRUPTED_EXIT;
      }
      const perCell = sweep.perCell as Row[][];
      const raw = perCell.flat();
      if (cli.shard) {
        shard = {
          index: cli.shard.index,
          count: cli.shard.count,
          totalCells: all.length,
          cells: picked.map((i, k) => [i, perCell[k].length]),
        };
        rows = raw;
      } else {
        rows = experiment.finalize ? experiment.finalize(raw, config) : raw;
      }
    } else {
      rows = await experiment.run(config, ctx);
    }
    p.done();
    const problem = checkRows(rows, shard !== undefined);
    if (problem) throw new TypeError(`experiment "${cli.name}" returned invalid rows: ${problem}`);
    io.out(renderTable(rows, experiment.columns));
    if (cli.quick) io.out(QUICK_NOTE);
    if (shard) io.out(`shard ${shard.index}/${shard.count}: rows before finalize; join the shards with ${MERGE_HINT}`);
    const env = await collectEnv({ backend, quick: cli.quick, date, git });
    env.provenance = await finishProvenance(provenance!, options.checkout, exclude);
    if (env.provenance.revisionChanged) {
      io.err(
        `warning: the checkout changed while the run ran (${provenance!.git.commit.slice(0, 7)} -> ` +
          `${env.provenance.gitAtEnd?.commit.slice(0, 7)}${env.provenance.gitAtEnd?.dirty ? " dirty" : ""}): ` +
          "the result records it, and report --check will not count it as current",
      );
    }
    // Cells ran in worker processes with workerThreads(jobs) BLAS threads each (workers.ts).
    if (inWorkers && backend === "blas") {
      env.threads = { ...workerThreadsEnv(workerThreads(jobs), env.threads?.via), processes: jobs };
    } else if (inWorkers) {
      env.threads = { ...(env.threads ?? { count: 1, via: "single" }), processes: jobs };
    }
    const record = { experiment: cli.name, config, env, rows, ...(shard ? { shard } : {}) };
    const path = shard
      ? await writeJson(outDir, shardFileName(cli.name, shard.index, shard.count), record)
      : await writeResults(outDir, record);
    if (journal !== undefined) await Deno.remove(journal).catch(() => {}); // the sweep is complete
    io.out(`wrote ${path}`);
    claimed = undefined;
    return 0;
  } catch (e) {
    progress?.done();
    if (claimed !== undefined) await Deno.remove(claimed).catch(() => {}); // only if still empty (no journal)
    let message = e instanceof Error ? e.message : String(e);
    // A worker's error line becomes part of the parent's CellFailedError: keep its type (e.g. NonFiniteError).
    const worker = args0.includes("--cell") || args0.some((a) => a.startsWith("--cell="));
    if (worker && e instanceof Error && e.name !== "Error" && !(e instanceof UsageError)) {
      message = `${e.name}: ${message}`;
    }
    io.err(`error: ${message}`);
    if (Deno.env.get("MEMTRAIN_DEBUG") === "1" && e instanceof Error && e.stack) io.err(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}

/**
 * The command that reproduces `config`: `deno task experiment <name> [--quick]` and the keys that differ from the
 * defaults (with the quick preset when `quick`).
 *
 * @example Usage
 * ```ts ignore
 * commandLine(memory, { ...defaults, vit: false }, false); // "deno task experiment memory --vit=false"
 * ```
 */
export function commandLine(experiment: AnyExperiment, config: Record<string, unknown>, quick: boolean): string {
  const base = resolveConfig(experiment, [], quick) as Record<string, unknown>;
  const parts = [`deno task experiment ${experiment.name}`, ...(quick ? ["--quick"] : [])];
  for (const [k, v] of Object.entries(config)) {
    if (JSON.stringify(v) === JSON.stringify(base[k])) continue;
    parts.push(`--${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
  }
  return parts.join(" ");
}

/** The command line without `--jobs N` / `--jobs=N` (what each worker gets, plus `--cell I`). */
function stripJobs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--jobs") i++;
    else if (!args[i].startsWith("--jobs=")) out.push(args[i]);
  }
  return out;
}

if (import.meta.main) {
  const { experiments } = await import("./registry.ts");
  Deno.exit(await main(Deno.args, experiments));
}
