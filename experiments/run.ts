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
import { checkRows, collectEnv, gitVersion, writeResults } from "./_lib/results.ts";
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
  /**
   * Returns the git version recorded in results; read when the run starts, so the code that ran is named and the
   * artifacts an experiment writes into its results directory do not mark it dirty. @default {gitVersion()} from
   * results.ts
   */
  gitVersion?: () => Promise<string>;
}

/** The default results directory. */
export const DEFAULT_OUT_DIR = "experiments/results";

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
    const outDir = cli.out ?? DEFAULT_OUT_DIR;
    const date = new Date();
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
    const git = await (options.gitVersion ?? gitVersion)();
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
    const env = await collectEnv({ backend, quick: cli.quick, date, git });
    // Cells of --jobs ran in worker processes with MEMTRAIN_BLAS_THREADS (default 1) BLAS threads each (workers.ts).
    if ((cli.jobs ?? 1) > 1 && experiment.cells && experiment.runCell) {
      const count = Number(Deno.env.get("MEMTRAIN_BLAS_THREADS") ?? "1");
      env.threads = { count, via: count > 1 ? "openblas" : "single", processes: cli.jobs };
    }
    const path = await writeResults(outDir, { experiment: cli.name, config, env, rows });
    io.out(`wrote ${path}`);
    return 0;
  } catch (e) {
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
