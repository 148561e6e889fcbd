/**
 * Freshness of committed results: a result is current when it has start-time provenance, came from a clean tree (or
 * says `allowDirty`), its checkout did not change while it ran, and no code it measures changed after its commit.
 *
 * "The code it measures" is every local module the experiment's entry file imports, transitively (`deno info
 * --json` of `experiments/<name>.ts`, dashes as underscores; `experiments/bench.ts` for bench), plus `deno.lock` (the
 * resolved tfjs and other dependency versions), minus the modules that only present results
 * ({@linkcode PRESENTATION}: charts, tables, help and progress text). A change to any of them after the result's
 * commit makes the result stale.
 * @module
 */
import { runGit } from "../experiments/_lib/git.ts";
import type { ResultFile } from "./report.ts";

/** Why one result is not current. */
export interface Staleness {
  /** Path of the result, relative to the results directory. */
  path: string;
  /** One line saying what is wrong. */
  reason: string;
}

/** Options for {@linkcode checkFreshness}. */
export interface FreshnessOptions {
  /** The repository root (where `experiments/` and `.git` are). @default {Deno.cwd()} */
  root?: string;
  /** File list per entry file; replaces the `deno info` import graph (tests). */
  sourcesOf?: (entry: string) => Promise<string[]>;
}

async function run(cmd: string, args: string[], cwd: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { success, stdout } = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "null" }).output();
    return { ok: success, out: new TextDecoder().decode(stdout) };
  } catch {
    return { ok: false, out: "" };
  }
}

const git = (args: string[], root: string) => runGit(args, root);

/** The entry file of a result's experiment, relative to the repository root. */
export function entryOf(experiment: string): string {
  return `experiments/${experiment.replace(/-/g, "_")}.ts`;
}

/**
 * Modules that only present results (how a table, chart, help text or progress bar looks): changing them changes
 * no figure, so they do not make a result stale.
 */
export const PRESENTATION: readonly string[] = Object.freeze([
  "experiments/_lib/charts.ts",
  "experiments/_lib/help.ts",
  "experiments/_lib/progress.ts",
  "experiments/_lib/suggest.ts",
  "experiments/_lib/table.ts",
  "lib/viz/",
]);

/**
 * The files (relative to `root`, sorted) a result of `entry` measures: the local modules it imports, directly or
 * not, but {@linkcode PRESENTATION}, plus `deno.lock`.
 *
 * @example Usage
 * ```ts ignore
 * console.log(await measuredFiles("experiments/mesa.ts")); // ["deno.lock", "experiments/_lib/cli.ts", ...]
 * ```
 */
export async function measuredFiles(entry: string, root = Deno.cwd()): Promise<string[]> {
  const { ok, out } = await run(Deno.execPath(), ["info", "--json", entry], root);
  if (!ok) throw new Error(`Cannot map ${entry} to its sources: deno info failed`);
  const base = new URL(`file://${root.replace(/\/?$/, "/")}`).href;
  const files = new Set<string>(["deno.lock"]);
  for (const m of (JSON.parse(out).modules ?? []) as { specifier?: string }[]) {
    const s = m.specifier ?? "";
    if (!s.startsWith(base) || s.includes("/node_modules/")) continue;
    const rel = decodeURIComponent(s.slice(base.length));
    if (!PRESENTATION.some((p) => p.endsWith("/") ? rel.startsWith(p) : rel === p)) files.add(rel);
  }
  return [...files].sort();
}

/** Why the code `r` measures is newer than `r`'s commit, or undefined when it is not. */
async function codeStaleness(
  r: ResultFile,
  root: string,
  sourcesOf: (entry: string) => Promise<string[]>,
  folderCache: Map<string, Promise<string[]>>,
): Promise<string | undefined> {
  const commit = commitOf(r);
  if (!commit) return "no commit recorded";
  const entry = entryOf(r.experiment);
  try {
    await Deno.stat(`${root}/${entry}`);
  } catch {
    return `no entry file ${entry} to map it to the code it measures`;
  }
  if (!folderCache.has(entry)) folderCache.set(entry, sourcesOf(entry));
  return changedAfter(commit, await folderCache.get(entry)!, root);
}

/**
 * Why some of `files` (paths relative to `root`; a folder stands for everything in it) changed in a commit that
 * `commit` does not contain: "stale: <what> changed after ..." naming the last such change and its files, or "its
 * commit ... is not in this repository"; undefined when none did.
 *
 * @example Usage
 * ```ts ignore
 * console.log(await changedAfter("8d94239", ["lib/nn/mod.ts", "deno.lock"], ".")); // undefined when current
 * ```
 */
export async function changedAfter(
  commit: string,
  files: readonly string[],
  root: string,
  what = "the code it measures",
): Promise<string | undefined> {
  const specs = files.map((f) => `:(literal)${f}`);
  const last = (await git(["log", "-1", "--format=%H", "--", ...specs], root)).out.trim();
  if (!last) return undefined;
  if (!(await git(["cat-file", "-e", `${commit}^{commit}`], root)).ok) {
    return `its commit ${commit} is not in this repository`;
  }
  if ((await git(["merge-base", "--is-ancestor", last, commit], root)).ok) return undefined;
  const changed = (await git(["diff", "--name-only", commit, last, "--", ...specs], root)).out.trim().split("\n")
    .filter((f) => f);
  return `stale: ${what} changed after its commit ${commit.slice(0, 7)} (last change ${last.slice(0, 7)}: ${
    changed.slice(0, 3).join(", ")
  }${changed.length > 3 ? `, +${changed.length - 3} more` : ""})`;
}

/** The commit a result names: provenance's full hash, else the short `env.git` (without "-dirty"). */
function commitOf(r: ResultFile): string | undefined {
  const p = r.env.provenance as { git?: { commit?: string } } | undefined;
  if (p?.git?.commit) return p.git.commit;
  return typeof r.env.git === "string" ? r.env.git.replace(/-dirty$/, "") : undefined;
}

/**
 * Every result of `results` that is not current, with the reason (empty when all are current).
 *
 * @example Usage
 * ```ts ignore
 * import { collectResults } from "./report.ts";
 * for (const s of await checkFreshness(await collectResults("experiments/results"))) {
 *   console.error(`${s.path}: ${s.reason}`);
 * }
 * ```
 */
export async function checkFreshness(
  results: readonly ResultFile[],
  options: FreshnessOptions = {},
): Promise<Staleness[]> {
  const root = options.root ?? Deno.cwd();
  const sourcesOf = options.sourcesOf ?? ((entry: string) => measuredFiles(entry, root));
  const folderCache = new Map<string, Promise<string[]>>();
  const stale: Staleness[] = [];
  for (const r of results) {
    const reasons: string[] = [];
    const p = r.env.provenance as
      | { git?: { commit?: string; dirty?: boolean }; allowDirty?: boolean; revisionChanged?: boolean }
      | undefined;
    if (!p?.git?.commit) reasons.push("no start-time provenance");
    else if (p.git.dirty && !p.allowDirty) reasons.push("ran on a dirty tree without --allowDirty");
    if (p?.revisionChanged) reasons.push("the checkout changed while it ran");
    if (!p && typeof r.env.git === "string" && r.env.git.endsWith("-dirty")) reasons.push("ran on a dirty tree");
    const code = await codeStaleness(r, root, sourcesOf, folderCache);
    if (code) reasons.push(code);
    if (reasons.length) stale.push({ path: r.path, reason: reasons.join("; ") });
  }
  return stale;
}
