/**
 * The experiment type: an experiment is data (a name, a config schema with defaults, a quick preset) plus a `run`
 * function that returns table rows.
 *
 * To add one, write `experiments/<name>.ts` exporting `defineExperiment({...})` and add one import plus one entry to
 * `experiments/registry.ts`; then `deno task experiment <name> [--quick] [--key=value ...]` runs it.
 * @module
 */
import { z } from "zod";
import { describeField } from "./fields.ts";
import type { Progress } from "./progress.ts";
import type { TrainingOptions } from "./training.ts";
import type { ChartSpec } from "../../lib/viz/mod.ts";

/** A chart of a result, for `deno task report`: written as `<experiment>-<name>.svg` next to the result's JSON. */
export interface NamedChart {
  /** File-name part and caption key, e.g. "peak". */
  name: string;
  /** What the chart shows, one line (the image's caption and alt text). */
  caption: string;
  /** The Vega-Lite spec (built with `lib/viz`). */
  spec: ChartSpec;
}

/** One result row. `technique` and `model` identify it; other keys are metrics or settings. */
export interface Row {
  /** Technique name, e.g. "baseline", "checkpoint", "mesa". */
  technique: string;
  /** Model name or preset, e.g. "gpt-tiny". */
  model: string;
  /** Metrics and settings (loss, peakBytes, msPerStep, ...). `null` means "not measured". */
  [k: string]: string | number | boolean | null;
}

/** What a running experiment gets besides its config. */
export interface RunContext {
  /** True when run with `--quick` (the quick preset is already applied to the config). */
  quick: boolean;
  /** Progress output (stderr), kept separate from the results table. */
  log(msg: string): void;
  /** The results directory (`--out`); experiments may write extra artifacts here. */
  outDir: string;
  /** Progress of training steps and cells (a bar on a terminal, plain lines otherwise, nothing with `--quiet`). */
  progress?: Progress;
  /**
   * Training-state options from `--resume`, `--checkpointEvery N` and `--skipNonFinite` (always set by
   * `experiments/run.ts`), to pass to the training loop; `training.dir(cellId)` is a cell's checkpoint folder under
   * `--out`.
   *
   * @example Usage
   * ```ts ignore
   * const t = ctx.training;
   * const checkpoint = t && { dir: t.dir(cellLabel(cell)), every: t.checkpointEvery, resume: t.resume };
   * ```
   */
  training?: TrainingOptions;
}

/** A cell's label for progress lines: its values joined, e.g. "gpt 8 mesa-head-wise". */
export function cellLabel(cell: Cell): string {
  return Object.values(cell).join(" ");
}

/** The schema type experiments use: a zod object whose every key has a `.default(...)`. */
// deno-lint-ignore no-explicit-any
export type ExperimentSchema = z.ZodObject<z.ZodRawShape, any, any>;

/** An experiment: data plus a run function. Create one with {@linkcode defineExperiment}. */
export interface Experiment<S extends ExperimentSchema> {
  /** Registry name, used on the command line and as the results file name (`<name>.json`). */
  name: string;
  /** One line for `--list`. */
  description: string;
  /** The config schema. Every key has a default; unknown keys are rejected. Use `.describe()` for `--help`. */
  schema: S;
  /** Overrides applied by `--quick` (before the user's `--key=value` overrides). */
  quick: Partial<z.infer<S>>;
  /**
   * Optional: other names of config keys on the command line, alias → key (e.g. `emaDecay` → `mesaEmaDecay`, so a
   * documented flag keeps working after its key moved). `--help` lists them.
   */
  aliases?: Readonly<Record<string, string>>;
  /** Preferred table column order; other columns follow in first-seen order. */
  columns?: string[];
  /** Runs the experiment with the resolved config and returns the result rows. */
  run(config: z.infer<S>, ctx: RunContext): Promise<Row[]>;
  /**
   * Optional: the experiment's independent cells (JSON data, e.g. `{ model, technique }`). With `cells` and `runCell`,
   * `--jobs N` runs cells in up to N worker processes; without `--jobs` the harness still runs `run`.
   */
  cells?(config: z.infer<S>): Cell[];
  /** Runs one cell (in a worker process under `--jobs`). */
  runCell?(config: z.infer<S>, cell: Cell, ctx: RunContext): Promise<Row[]>;
  /**
   * Optional: run every cell in a fresh worker process by default (`--jobs N` runs up to N at a time, `--in-process`
   * runs them all in this process), for figures that what an earlier cell left behind would change: a process's
   * wasm heap keeps the holes of every cell it ran, so the memory experiment sets it.
   */
  freshProcess?: boolean;
  /** Post-processes the rows of all cells, in cell order (e.g. ratios to a baseline row). */
  finalize?(rows: Row[], config: z.infer<S>): Row[];
  /** Optional: the charts of a result (`deno task report` renders them to SVG); none when the rows cannot make one. */
  charts?(rows: Row[], config: z.infer<S>): NamedChart[];
}

/** One independent unit of an experiment, as plain JSON data. */
export type Cell = Record<string, string | number | boolean>;

/**
 * Runs an experiment's cells one after another and applies `finalize`: the `run` of experiments that define cells.
 *
 * @example Usage
 * ```ts ignore
 * run: (config, ctx) => runCellsInOrder(memory, config, ctx),
 * ```
 */
export async function runCellsInOrder<S extends ExperimentSchema>(
  e: Experiment<S>,
  config: z.infer<S>,
  ctx: RunContext,
): Promise<Row[]> {
  if (!e.cells || !e.runCell) throw new TypeError(`experiment "${e.name}" defines no cells`);
  const rows: Row[] = [];
  const cells = e.cells(config);
  for (const [i, cell] of cells.entries()) {
    ctx.progress?.cell(i, cells.length, cellLabel(cell));
    rows.push(...await e.runCell(config, cell, ctx));
  }
  return e.finalize ? e.finalize(rows, config) : rows;
}

/** An experiment of any schema, as stored in the registry. */
export type AnyExperiment = Experiment<ExperimentSchema>;

/** The registry type: experiment name → experiment. */
export type Registry = Record<string, AnyExperiment>;

/** Option names the command line reserves; config keys may not use them. */
export const RESERVED_KEYS: readonly string[] = [
  "quick",
  "out",
  "backend",
  "help",
  "list",
  "jobs",
  "cell",
  "inProcess",
  "in-process",
  "shard",
  "quiet",
  "resume",
  "checkpointEvery",
  "skipNonFinite",
];

/**
 * Declares an experiment, checking its definition: a non-empty name, a default on every config key, no reserved
 * key names, aliases that name config keys (and are not keys themselves), and a quick preset that the schema accepts.
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { defineExperiment } from "./experiment.ts";
 *
 * export const toy = defineExperiment({
 *   name: "toy",
 *   description: "Squares a number",
 *   schema: z.object({ x: z.number().default(3).describe("number to square") }),
 *   quick: { x: 1 },
 *   run: (config) => Promise.resolve([{ technique: "none", model: "toy", y: config.x ** 2 }]),
 * });
 * ```
 * @throws {TypeError} when the definition breaks one of the rules above.
 */
export function defineExperiment<S extends ExperimentSchema>(e: Experiment<S>): Experiment<S> {
  const fail = (why: string): never => {
    throw new TypeError(`Cannot define experiment "${e.name}": ${why}`);
  };
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(e.name)) fail("'name' must be a non-empty identifier like \"baseline\"");
  for (const [key, field] of Object.entries(e.schema.shape)) {
    if (RESERVED_KEYS.includes(key)) fail(`config key "${key}" is reserved for a command-line option`);
    if (!describeField(field as z.ZodTypeAny).hasDefault) {
      fail(`config key "${key}" has no default (add .default(...))`);
    }
  }
  for (const [alias, key] of Object.entries(e.aliases ?? {})) {
    if (!Object.hasOwn(e.schema.shape, key)) {
      fail(`alias "${alias}" names the config key "${key}", which the schema does not have`);
    }
    if (Object.hasOwn(e.schema.shape, alias) || RESERVED_KEYS.includes(alias)) {
      fail(`alias "${alias}" is itself a config key or a reserved option name`);
    }
  }
  if ((e.cells === undefined) !== (e.runCell === undefined)) fail("'cells' and 'runCell' must be given together");
  const quick = e.schema.partial().strict().safeParse(e.quick);
  if (!quick.success) {
    const issue = quick.error.issues[0];
    fail(`'quick' preset is invalid at "${issue.path.join(".") || "(root)"}": ${issue.message}`);
  }
  return e;
}
