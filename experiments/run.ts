/**
 * `deno task experiment <name> [--quick] [--out DIR] [--backend=NAME] [--key=value ...]`: runs a registered
 * experiment, prints its rows as a table and writes `DIR/<name>.json`. See `--help`.
 * @module
 */
import { type BackendName, initBackend } from "../lib/backend/mod.ts";
import { parseCli, USAGE } from "./_lib/cli.ts";
import { resolveConfig } from "./_lib/config.ts";
import { UnknownExperimentError, UsageError } from "./_lib/errors.ts";
import { type Registry, runCellsInOrder } from "./_lib/experiment.ts";
import { describeExperiment, listExperiments } from "./_lib/help.ts";
import { checkRows, collectEnv, writeResults } from "./_lib/results.ts";
import { didYouMean } from "./_lib/suggest.ts";
import { renderTable } from "./_lib/table.ts";
import { ROWS_MARKER, runCellsInWorkers } from "./_lib/workers.ts";

/** Where {@linkcode main} writes: `out` for results, `err` for progress and errors. Each call is one line. */
export interface MainIO {
  /** Writes one line of normal output. */
  out(s: string): void;
  /** Writes one line of diagnostics. */
  err(s: string): void;
}

/** Options for {@linkcode main} that tests replace. */
export interface MainOptions {
  /** Returns the git version recorded in results. @default {gitVersion()} from results.ts */
  gitVersion?: () => Promise<string>;
}

/** Where runs without `--out` write: a fresh folder per run (gitignored), never the committed results. */
export const SCRATCH_DIR = "runs";

/** The committed results directory: only an explicit `--out` under it writes there, and never a quick run. */
export const RESULTS_DIR = "experiments/results";

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

/** Whether `dir` is the committed results directory or inside it (relative to the current directory). */
export function isUnderResults(dir: string): boolean {
  const norm = (p: string) => p.replace(/\/+/g, "/").replace(/^\.\//, "").replace(/\/$/, "");
  const cwd = norm(Deno.cwd());
  const abs = dir.startsWith("/") ? norm(dir) : `${cwd}/${norm(dir)}`;
  const results = `${cwd}/${RESULTS_DIR}`;
  return abs === results || abs.startsWith(`${results}/`);
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
  try {
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
    const date = new Date();
    if (cli.out === undefined && cli.cell === undefined) claimed = await scratchDir(cli.name, date, cli.quick);
    const outDir = cli.out ?? claimed ?? SCRATCH_DIR;
    const ctx = { quick: cli.quick, log: (m: string) => io.err(m), outDir };
    if (cli.cell !== undefined) {
      // A worker of --jobs: run one cell and print its rows for the parent.
      const cells = experiment.cells?.(config) ?? [];
      if (!experiment.runCell || cli.cell >= cells.length) {
        throw new UsageError(`experiment "${cli.name}" has no cell ${cli.cell} (it has ${cells.length})`);
      }
      io.out(ROWS_MARKER + JSON.stringify(await experiment.runCell(config, cells[cli.cell], ctx)));
      return 0;
    }
    io.err(`running ${cli.name}${cli.quick ? " (quick)" : ""} on ${backend}: ${JSON.stringify(config)}`);
    let rows;
    if ((cli.jobs ?? 1) > 1 && experiment.cells && experiment.runCell) {
      const cells = experiment.cells(config);
      io.err(`${cells.length} cells in up to ${cli.jobs} worker processes`);
      const args = stripJobs(args0);
      const raw = await runCellsInWorkers({ args, cells: cells.length, jobs: cli.jobs!, log: ctx.log });
      rows = experiment.finalize ? experiment.finalize(raw, config) : raw;
    } else if (experiment.cells && experiment.runCell && cli.jobs !== undefined) {
      rows = await runCellsInOrder(experiment, config, ctx);
    } else {
      rows = await experiment.run(config, ctx);
    }
    const problem = checkRows(rows);
    if (problem) throw new TypeError(`experiment "${cli.name}" returned invalid rows: ${problem}`);
    io.out(renderTable(rows, experiment.columns));
    const env = await collectEnv({ backend, quick: cli.quick, date, git: await options.gitVersion?.() });
    // Cells of --jobs ran in worker processes with MEMTRAIN_BLAS_THREADS (default 1) BLAS threads each (workers.ts).
    if ((cli.jobs ?? 1) > 1 && experiment.cells && experiment.runCell) {
      const count = Number(Deno.env.get("MEMTRAIN_BLAS_THREADS") ?? "1");
      env.threads = { count, via: count > 1 ? "openblas" : "single", processes: cli.jobs };
    }
    const path = await writeResults(outDir, { experiment: cli.name, config, env, rows });
    io.out(`wrote ${path}`);
    claimed = undefined;
    return 0;
  } catch (e) {
    if (claimed !== undefined) await Deno.remove(claimed).catch(() => {}); // only if still empty
    const message = e instanceof Error ? e.message : String(e);
    io.err(`error: ${message}`);
    if (Deno.env.get("MEMTRAIN_DEBUG") === "1" && e instanceof Error && e.stack) io.err(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
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
