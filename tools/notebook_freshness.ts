/**
 * Freshness of the committed notebooks' outputs, by the rule results follow (`freshness.ts`). A notebook is current
 * when `deno task notebooks --save` wrote its outputs in a full run (not `--quick`) from a clean tree whose commit it
 * records (`metadata.memtrain.commit`), its code cells are still those of that commit, and none of the code its cells
 * import changed after it: every local module they import, transitively, plus `deno.lock`, minus the presentation
 * modules (`lib/viz/`, charts, tables). Committed results a notebook shows (a path under `experiments/results/` in its
 * code cells) count too: republishing them makes the notebook stale.
 * @module
 */
import { runGit } from "../experiments/_lib/git.ts";
import { changedAfter, type FreshnessOptions, measuredFiles, type Staleness } from "./freshness.ts";
import { findNotebooks } from "./run_notebooks.ts";

/** What `deno task notebooks --save` stamps into `metadata.memtrain`. */
export interface NotebookStamp {
  /** The command that wrote the outputs. */
  command?: string;
  /** Short HEAD at the run's start, "-dirty" appended when the tree was dirty (older stamps carry only this). */
  git?: string;
  /** Full HEAD at the run's start. */
  commit?: string;
  /** Whether the tree had changes at the run's start. */
  dirty?: boolean;
  /** ISO 8601 start time. */
  date?: string;
  /** Whether the run was a quick one. */
  quick?: boolean;
  /** Seconds the run took. */
  seconds?: number;
}

/** The parts of a notebook (nbformat 4 JSON) these checks read. */
interface Notebook {
  /** Notebook metadata; `memtrain` is the stamp of a saved run. */
  metadata?: { memtrain?: NotebookStamp };
  /** The cells: markdown or code, each source a string or a list of lines. */
  cells?: { cell_type?: string; source?: string | string[] }[];
}

/** The code cells' sources of a parsed notebook, in order (a cell's source may be a string or a list of lines). */
function codeCells(nb: Notebook): string[] {
  return (nb.cells ?? []).filter((c) => c.cell_type === "code")
    .map((c) => Array.isArray(c.source) ? c.source.join("") : c.source ?? "");
}

/** Reads the notebook at `path` (relative to `root`). */
async function readNotebook(path: string, root: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(`${root}/${path}`)) as Notebook;
}

/**
 * The notebooks in the folder `dir` (relative to `root`), as `findNotebooks` lists them, relative to `root`.
 *
 * @throws {Deno.errors.NotFound} when the folder does not exist.
 *
 * @example Usage
 * ```ts ignore
 * console.log(await notebooksIn("notebooks", ".")); // ["notebooks/00_quickstart.ipynb", ...]
 * ```
 */
export async function notebooksIn(dir: string, root: string): Promise<string[]> {
  const base = root.replace(/\/?$/, "/");
  return (await findNotebooks([`${base}${dir}`])).map((p) => p.slice(base.length));
}

/**
 * The repository-relative paths of the local modules that code `cells` of the notebook at `path` import (static
 * `import ... from "./x.ts"`, `import "./x.ts"` and dynamic `import("./x.ts")`), sorted; packages are left out.
 *
 * @example Usage
 * ```ts
 * import { notebookImports } from "./notebook_freshness.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = [
 *   'import * as tf from "@tensorflow/tfjs";\nimport { GPT } from "../mod.ts";',
 *   'await import("../lib/nn/mod.ts");',
 * ];
 * assert.deepEqual(notebookImports("notebooks/a.ipynb", cells), ["lib/nn/mod.ts", "mod.ts"]);
 * ```
 */
export function notebookImports(path: string, cells: readonly string[]): string[] {
  const out = new Set<string>();
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
  for (const cell of cells) {
    for (const m of cell.matchAll(pattern)) {
      const spec = m[1];
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      out.add(decodeURIComponent(new URL(spec, `file:///${path}`).pathname.slice(1)));
    }
  }
  return [...out].sort();
}

/**
 * The committed results that code `cells` of the notebook at `path` read: string literals naming a path under
 * `experiments/results/` (a file or a folder), relative to the notebook's folder when they start with "./" or "../",
 * else to the repository root; repository-relative and sorted.
 *
 * @example Usage
 * ```ts
 * import { notebookResults } from "./notebook_freshness.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = ['const FULL = "../experiments/results/mezo/mezo.json";', "const dir = `experiments/results/galore/`;"];
 * assert.deepEqual(notebookResults("notebooks/05_mezo.ipynb", cells), [
 *   "experiments/results/galore",
 *   "experiments/results/mezo/mezo.json",
 * ]);
 * ```
 */
export function notebookResults(path: string, cells: readonly string[]): string[] {
  const out = new Set<string>();
  const pattern = /["'`]((?:\.\.?\/)*experiments\/results\/[^"'`$\s]*)["'`]/g;
  for (const cell of cells) {
    for (const m of cell.matchAll(pattern)) {
      const spec = m[1].replace(/\/+$/, "");
      const base = spec.startsWith(".") ? `file:///${path}` : "file:///";
      out.add(decodeURIComponent(new URL(spec, base).pathname.slice(1)));
    }
  }
  return [...out].sort();
}

/** The notebook at `path` (relative to `root`) as committed at `commit`, or undefined when it was not there. */
async function notebookAt(commit: string, path: string, root: string): Promise<Notebook | undefined> {
  const { ok, out } = await runGit(["show", `${commit}:${path}`], root);
  if (!ok) return undefined;
  try {
    return JSON.parse(out) as Notebook;
  } catch {
    return undefined;
  }
}

/**
 * Every notebook of `paths` (relative to the root) whose outputs are not current, with the reason (empty when all
 * are). `options.sourcesOf` maps each module the cells import to its files (default: its `deno info` import graph).
 *
 * @example Usage
 * ```ts ignore
 * for (const s of await checkNotebookFreshness(["notebooks/00_quickstart.ipynb"])) console.error(`${s.path}: ${s.reason}`);
 * ```
 */
export async function checkNotebookFreshness(
  paths: readonly string[],
  options: FreshnessOptions = {},
): Promise<Staleness[]> {
  const root = options.root ?? Deno.cwd();
  const sourcesOf = options.sourcesOf ?? ((entry: string) => measuredFiles(entry, root));
  const cache = new Map<string, Promise<string[]>>();
  const stale: Staleness[] = [];
  for (const path of paths) {
    const nb = await readNotebook(path, root);
    const cells = codeCells(nb);
    const stamp = nb.metadata?.memtrain;
    const resave = `rerun \`deno task notebooks --save ${path}\` from a clean tree`;
    if (!stamp) {
      stale.push({ path, reason: `no outputs of a saved run (metadata.memtrain): ${resave}` });
      continue;
    }
    const reasons: string[] = [];
    if (stamp.quick) reasons.push("its outputs come from a quick run");
    const known = (c: string | undefined) => c && c !== "unknown" ? c : undefined;
    if (!known(stamp.commit)) reasons.push("no start-time provenance (full commit and dirty flag)");
    if (stamp.dirty || stamp.git?.endsWith("-dirty")) reasons.push("saved from a dirty tree");
    const commit = known(stamp.commit) ?? known(stamp.git?.replace(/-dirty$/, ""));
    if (!commit) reasons.push("no commit recorded");
    else {
      const then = await notebookAt(commit, path, root);
      if (!then) reasons.push(`it is not in its commit ${commit.slice(0, 7)}`);
      else if (JSON.stringify(codeCells(then)) !== JSON.stringify(cells)) {
        reasons.push(`its code cells changed after its commit ${commit.slice(0, 7)}`);
      }
      const files = new Set<string>(["deno.lock"]);
      for (const entry of notebookImports(path, cells)) {
        if (!cache.has(entry)) cache.set(entry, sourcesOf(entry));
        for (const f of await cache.get(entry)!) files.add(f);
      }
      const code = await changedAfter(commit, [...files].sort(), root);
      if (code) reasons.push(code);
      const shown = notebookResults(path, cells);
      const data = shown.length ? await changedAfter(commit, shown, root, "the results it shows") : undefined;
      if (data) reasons.push(data);
    }
    if (reasons.length) stale.push({ path, reason: `${reasons.join("; ")}: ${resave}` });
  }
  return stale;
}

/**
 * The notebooks of `paths` (relative to `root`) that show one of the committed results `files` (repository-relative;
 * e.g. the ones about to be rerun), each with the first such result in its reason: they go stale with it.
 *
 * @example Usage
 * ```ts ignore
 * await notebooksShowing(["notebooks/05_mezo.ipynb"], ["experiments/results/mezo/mezo.json"], ".");
 * // [{ path: "notebooks/05_mezo.ipynb", reason: "it shows experiments/results/mezo/mezo.json, rerun here" }]
 * ```
 */
export async function notebooksShowing(
  paths: readonly string[],
  files: readonly string[],
  root: string,
): Promise<Staleness[]> {
  const out: Staleness[] = [];
  for (const path of paths) {
    const shown = notebookResults(path, codeCells(await readNotebook(path, root)));
    const hit = files.find((f) => shown.some((d) => f === d || f.startsWith(`${d}/`)));
    if (hit) out.push({ path, reason: `it shows ${hit}, rerun here` });
  }
  return out;
}
