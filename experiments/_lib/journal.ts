/**
 * The cell journal of a sweep: `<out>/<experiment>[.shard-I-of-N].cells.jsonl`, one JSON line per finished cell
 * (experiment, quick mode, resolved config, cell index and value, rows), written and flushed (fsync) as each cell
 * finishes. `--resume` reads it back and skips the cells it holds; a journal recorded with another experiment,
 * config, quick mode or cell list is refused. A line torn by a kill mid-write is dropped on resume. The journal is
 * removed once the final result JSON is written, so a journal on disk always means an unfinished sweep.
 * @module
 */
import { UsageError } from "./errors.ts";
import type { Cell, Row } from "./experiment.ts";

/** One line of the journal: a finished cell and its rows. */
export interface JournalEntry {
  /** Experiment name. */
  experiment: string;
  /** Whether the quick preset was applied. */
  quick: boolean;
  /** The fully resolved config of the sweep. */
  config: Record<string, unknown>;
  /** The cell's index among all the experiment's cells. */
  index: number;
  /** The cell itself (its identity). */
  cell: Cell;
  /** The rows the cell returned (before `finalize`). */
  rows: Row[];
  /** The git version the cell ran at (`gitVersion()`), when known: a resume at another one is warned about. */
  git?: string;
}

/** What identifies a sweep: every journal line must agree with it. */
export interface SweepIdentity {
  /** Experiment name. */
  experiment: string;
  /** Whether the quick preset was applied. */
  quick: boolean;
  /** The resolved config. */
  config: Record<string, unknown>;
  /** All the experiment's cells (not only this shard's). */
  cells: Cell[];
}

/**
 * The journal's file name: `<experiment>.cells.jsonl`, or `<experiment>.shard-I-of-N.cells.jsonl` for a shard.
 *
 * @example Usage
 * ```ts
 * import { journalFileName } from "./journal.ts";
 * journalFileName("mesa"); // "mesa.cells.jsonl"
 * journalFileName("mesa", { index: 1, count: 2 }); // "mesa.shard-1-of-2.cells.jsonl"
 * ```
 */
export function journalFileName(experiment: string, shard?: { index: number; count: number }): string {
  return `${experiment}${shard ? `.shard-${shard.index}-of-${shard.count}` : ""}.cells.jsonl`;
}

/**
 * JSON with object keys sorted, so equal values give equal text.
 *
 * @example Usage
 * ```ts
 * import { stableJson } from "./journal.ts";
 * stableJson({ b: 1, a: [2] }); // '{"a":[2],"b":1}'
 * ```
 */
export function stableJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
        : x,
  );
}

function differingKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.filter((k) => stableJson(a[k]) !== stableJson(b[k]))
    .map((k) => `${k}: ${stableJson(a[k]) ?? "(none)"} recorded, ${stableJson(b[k]) ?? "(none)"} now`);
}

/**
 * Reads a journal and checks each line against `sweep`; returns the finished cells' rows by cell index (empty when
 * the file does not exist). A torn last line (no newline at the end, from a kill mid-write) is dropped and the file
 * rewritten without it (temp file + rename).
 *
 * @example Usage
 * ```ts ignore
 * const done = await readJournal("runs/x/mesa.cells.jsonl", { experiment: "mesa", quick, config, cells });
 * ```
 * @throws {UsageError} when a line is corrupt or was recorded for another experiment, quick mode, config or cell.
 */
export async function readJournal(path: string, sweep: SweepIdentity): Promise<Map<number, Row[]>> {
  return (await readJournalEntries(path, sweep)).done;
}

/**
 * Like {@linkcode readJournal}, plus the git versions the journaled cells ran at.
 *
 * @example Usage
 * ```ts ignore
 * const { done, gits } = await readJournalEntries(path, sweep);
 * ```
 */
export async function readJournalEntries(
  path: string,
  sweep: SweepIdentity,
): Promise<{ done: Map<number, Row[]>; gits: Set<string> }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { done: new Map(), gits: new Set() };
    throw e;
  }
  const lines = text.split("\n");
  const torn = lines.pop() !== ""; // text ends with "\n" unless the last write was cut short
  const done = new Map<number, Row[]>(), gits = new Set<string>();
  const refuse = (why: string): never => {
    throw new UsageError(`cannot resume from ${path}: ${why}`);
  };
  for (const [n, line] of lines.entries()) {
    let e: JournalEntry;
    try {
      e = JSON.parse(line);
    } catch {
      return refuse(`line ${n + 1} is not JSON (the file is corrupt; delete it to start over)`);
    }
    if (typeof e !== "object" || e === null || !Array.isArray(e.rows) || !Number.isInteger(e.index)) {
      refuse(`line ${n + 1} is not a finished cell (no "index" and "rows")`);
    }
    if (e.experiment !== sweep.experiment) {
      refuse(`it records experiment "${e.experiment}", not "${sweep.experiment}"`);
    }
    if (e.quick !== sweep.quick) {
      refuse(`it was recorded ${e.quick ? "with" : "without"} --quick; rerun ${e.quick ? "with" : "without"} it`);
    }
    const diff = differingKeys(e.config ?? {}, sweep.config);
    if (diff.length) {
      refuse(
        `it was recorded with a different config (${diff.join("; ")}); rerun with the recorded config or ` +
          `use another --out`,
      );
    }
    if (e.index >= sweep.cells.length || stableJson(e.cell) !== stableJson(sweep.cells[e.index])) {
      refuse(`its cell ${e.index} (${stableJson(e.cell)}) is not cell ${e.index} of this sweep`);
    }
    done.set(e.index, e.rows);
    if (typeof e.git === "string") gits.add(e.git);
  }
  if (torn) {
    const tmp = `${path}.tmp`;
    await Deno.writeTextFile(tmp, lines.map((l) => l + "\n").join(""));
    await Deno.rename(tmp, path);
  }
  return { done, gits };
}

/**
 * Appends one finished cell to the journal as one line in one write, then flushes it to disk (fsync), so a kill
 * right after loses nothing and a kill during the write leaves at most a torn last line (dropped on resume).
 *
 * @example Usage
 * ```ts ignore
 * await appendJournal("runs/x/mesa.cells.jsonl", { experiment: "mesa", quick, config, index: 0, cell, rows });
 * ```
 */
export async function appendJournal(path: string, entry: JournalEntry): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(entry) + "\n");
  const file = await Deno.open(path, { append: true, create: true });
  try {
    let at = 0;
    while (at < bytes.length) at += await file.write(bytes.subarray(at));
    await file.syncData();
  } finally {
    file.close();
  }
}
