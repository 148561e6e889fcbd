/**
 * Runs the cells of a sweep (in this process or in worker processes), journaling each finished cell
 * (`journal.ts`), skipping the journaled ones on `--resume`, and stopping cleanly on Ctrl-C (`interrupt.ts`).
 * @module
 */
import { UsageError } from "./errors.ts";
import { type AnyExperiment, type Cell, cellLabel, type Row, type RunContext } from "./experiment.ts";
import { INTERRUPTED_EXIT, watchInterrupt } from "./interrupt.ts";
import { appendJournal, readJournalEntries } from "./journal.ts";
import { runCellsInWorkers } from "./workers.ts";

/** Options for {@linkcode runSweep}. */
export interface SweepOptions {
  /** The experiment (it defines `cells` and `runCell`). */
  experiment: AnyExperiment;
  /** The resolved config. */
  config: Record<string, unknown>;
  /** Whether the quick preset was applied. */
  quick: boolean;
  /** The context each in-process cell gets. */
  ctx: RunContext;
  /** All the experiment's cells. */
  all: Cell[];
  /** The indices of the cells to run (all of them, or a shard's). */
  picked: number[];
  /** The journal file. */
  journal: string;
  /** `--resume`: skip the cells the journal holds. */
  resume: boolean;
  /** Run each cell in a worker process with this command line (without `--jobs`), up to `jobs` at a time. */
  workers?: { args: string[]; jobs: number; script?: string };
  /** The command that resumes this sweep (printed on Ctrl-C and after a failed cell). */
  resumeCommand: string;
  /** Writes one line of diagnostics (the resume command of an abandoned sweep). */
  err(line: string): void;
  /** The git version of this run, recorded with each cell; resuming cells journaled at another one warns. */
  git?: string;
  /** Exits the process: called on a second Ctrl-C. @default {Deno.exit} */
  exit?(code: number): void;
}

/** The outcome of {@linkcode runSweep}. */
export interface SweepResult {
  /** Each picked cell's rows, in the order of `picked`; `undefined` for a cell left unfinished by Ctrl-C. */
  perCell: (Row[] | undefined)[];
  /** True when Ctrl-C stopped the sweep before every picked cell finished. */
  interrupted: boolean;
  /** How many picked cells the journal already held (skipped). */
  resumed: number;
}

/**
 * A cell threw: the sweep stopped, its finished cells are kept in the journal.
 *
 * @example Usage
 * ```ts
 * import { CellFailedError } from "./sweep.ts";
 * const e = new CellFailedError(2, "gpt mesa", 2, "deno task experiment mesa --resume", new RangeError("bad"));
 * e.message; // "cell 2 (gpt mesa) failed: RangeError: bad [2 finished cells kept; resume with: ...]"
 * ```
 */
export class CellFailedError extends Error {
  /** Creates the error for cell `index`; the message names the cell, the cause and the resume command. */
  constructor(readonly index: number, label: string, kept: number, resume: string, cause: unknown) {
    const why = cause instanceof Error
      ? `${cause.name && cause.name !== "Error" ? `${cause.name}: ` : ""}${cause.message}`
      : String(cause);
    super(
      `cell ${index} (${label}) failed: ${why.replace(/\s*\n\s*/g, " ")}` +
        (kept > 0 ? ` [${kept} finished cell${kept > 1 ? "s" : ""} kept; resume with: ${resume}]` : ""),
      { cause },
    );
    this.name = "CellFailedError";
  }
}

/**
 * Runs the picked cells that the journal (on `--resume`) does not hold, appending each one as it finishes. Without
 * `--resume`, a journal already on disk (an unfinished sweep) is refused rather than overwritten.
 *
 * @example Usage
 * ```ts ignore
 * const { perCell, interrupted } = await runSweep({ experiment, config, quick, ctx, all, picked, journal,
 *   resume: cli.resume, resumeCommand: cmd, err: io.err });
 * ```
 * @throws {UsageError} for a journal that does not match the sweep, or one on disk without `--resume`.
 * @throws {CellFailedError} when a cell throws (cells finished before it stay journaled).
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const identity = { experiment: o.experiment.name, quick: o.quick, config: o.config, cells: o.all };
  let done: Map<number, Row[]>;
  if (o.resume) {
    const read = await readJournalEntries(o.journal, identity);
    done = read.done;
    const others = [...read.gits].filter((g) => g !== o.git);
    if (o.git !== undefined && others.length) {
      o.err(
        `warning: resuming cells that ran at git ${others.join(", ")}, not ${o.git}: the result mixes code versions`,
      );
    }
  } else {
    done = new Map();
    const held = await Deno.stat(o.journal).then((s) => s.size > 0, () => false);
    if (held) {
      throw new UsageError(
        `${o.journal} holds the finished cells of an unfinished sweep: add --resume to continue it, or delete the ` +
          `file (or use another --out) to start over`,
      );
    }
  }
  const resumed = o.picked.filter((i) => done.has(i)).length;
  const todo = o.picked.filter((i) => !done.has(i));
  if (o.resume) {
    o.ctx.log(`resuming: ${resumed} of ${o.picked.length} cells finished in ${o.journal}; running ${todo.length}`);
  }
  const children = new Set<Deno.ChildProcess>();
  const watch = watchInterrupt({
    onFirst: () => o.ctx.log("interrupted: finishing the cell in progress, then stopping (Ctrl-C again to abandon it)"),
    onSecond: () => {
      for (const c of children) c.kill("SIGTERM");
      o.err(`interrupted: abandoned the cell in progress; resume with: ${o.resumeCommand}`);
      (o.exit ?? Deno.exit)(INTERRUPTED_EXIT);
    },
  });
  const record = async (i: number, rows: Row[]) => {
    await appendJournal(o.journal, {
      experiment: o.experiment.name,
      quick: o.quick,
      config: o.config,
      index: i,
      cell: o.all[i],
      rows,
      ...(o.git !== undefined ? { git: o.git } : {}),
    });
    done.set(i, rows);
  };
  const progress = (i: number, finished: number) =>
    o.ctx.progress?.cell(o.picked.indexOf(i), o.picked.length, cellLabel(o.all[i]), finished);
  try {
    if (o.workers) {
      let chain = Promise.resolve(); // one journal write at a time
      await runCellsInWorkers({
        args: o.workers.args,
        cells: todo,
        jobs: o.workers.jobs,
        script: o.workers.script,
        log: o.ctx.log,
        onCell: (i, n) => progress(i, resumed + n),
        onRows: (i, rows) => (chain = chain.then(() => record(i, rows))),
        stop: () => watch.interrupted,
        onSpawn: (c) => children.add(c),
      }).catch((e) => {
        const message = e instanceof Error ? e.message : String(e);
        const m = /^cell (\d+) failed\s*/.exec(message);
        if (!m) throw e;
        const i = Number(m[1]);
        const cause = new Error(`in its worker ${message.slice(m[0].length)}`, { cause: e });
        throw new CellFailedError(i, cellLabel(o.all[i]), done.size, o.resumeCommand, cause);
      });
      await chain;
    } else {
      for (const i of todo) {
        if (watch.interrupted) break;
        progress(i, o.picked.filter((j) => done.has(j)).length);
        let rows: Row[];
        try {
          rows = await o.experiment.runCell!(o.config as never, o.all[i], o.ctx);
        } catch (e) {
          throw new CellFailedError(i, cellLabel(o.all[i]), done.size, o.resumeCommand, e);
        }
        await record(i, rows);
      }
    }
  } finally {
    watch.dispose();
  }
  const perCell = o.picked.map((i) => done.get(i));
  return { perCell, interrupted: perCell.some((r) => r === undefined), resumed };
}
