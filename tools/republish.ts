/**
 * `deno task republish [--dry-run] [--only DIR,...]`: reruns every committed result that `deno task report --check`
 * finds not current, each with the command its provenance recorded (its `MEMTRAIN_*` settings in front), from a clean
 * tree, and commits each result before starting the next (the publishing rule of CONTRIBUTING.md); then it resaves
 * every notebook whose outputs are not current (`deno task notebooks --save PATH`, one commit each). It stops at the
 * first command that fails. Afterwards run `deno task report` and commit what it regenerates.
 *
 * Runs take as long as the experiments do (hours for all of them on a 2-core machine); on a shared machine run it
 * alone (e.g. under the shared lock).
 * @module
 */
import { gitState, publishRefusal } from "../experiments/_lib/provenance.ts";
import { runGit } from "../experiments/_lib/git.ts";
import { checkFreshness, type Staleness } from "./freshness.ts";
import { checkNotebookFreshness, notebooksIn, notebooksShowing } from "./notebook_freshness.ts";
import { collectResults, commandOf, type ResultFile } from "./report.ts";

const USAGE = "Usage: deno task republish [--dry-run] [--only DIR,...] [--results DIR] [--notebooks DIR]";

/** One rerun: the shell command and what to commit after it. */
export interface RepublishStep {
  /** The stale results it republishes (paths relative to the results directory). */
  paths: string[];
  /** The recorded command, with its settings in front (run with `bash -c`). */
  command: string;
  /** What to `git add` after it: the result's directory, or its file for a result at the top level. */
  add: string;
}

/**
 * The reruns that republish `stale` (as {@linkcode checkFreshness} gives them) of `files`: one per recorded command (a
 * directory of several JSON files written by one command is rerun once), in the order of `stale`.
 *
 * @throws {RangeError} when a stale result has no command that can be rebuilt.
 *
 * @example Usage
 * ```ts
 * import { republishPlan } from "./republish.ts";
 * import assert from "node:assert/strict";
 *
 * const file = {
 *   path: "mezo/mezo.json", experiment: "mezo", config: {}, rows: [],
 *   env: { provenance: { command: ["deno", "task", "experiment", "mezo", "--out", "experiments/results/mezo"], settings: { MEMTRAIN_BLAS_THREADS: "1" } } },
 * };
 * assert.deepEqual(republishPlan([{ path: "mezo/mezo.json", reason: "stale" }], [file]), [{
 *   paths: ["mezo/mezo.json"],
 *   command: "MEMTRAIN_BLAS_THREADS=1 deno task experiment mezo --out experiments/results/mezo",
 *   add: "experiments/results/mezo",
 * }]);
 * ```
 */
export function republishPlan(
  stale: readonly Staleness[],
  files: readonly ResultFile[],
  resultsDir = "experiments/results",
): RepublishStep[] {
  const steps: RepublishStep[] = [];
  for (const s of stale) {
    const file = files.find((f) => f.path === s.path);
    const command = file && commandOf(file, resultsDir);
    if (!command) {
      throw new RangeError(`Cannot republish ${resultsDir}/${s.path}: no recorded command and none can be rebuilt`);
    }
    const same = steps.find((x) => x.command === command);
    if (same) {
      same.paths.push(s.path);
      continue;
    }
    const dir = s.path.includes("/") ? s.path.slice(0, s.path.indexOf("/")) : s.path;
    steps.push({ paths: [s.path], command, add: `${resultsDir}/${dir}` });
  }
  return steps;
}

/**
 * The reruns that resave the notebooks of `stale` (as {@linkcode checkNotebookFreshness} gives them): one
 * `deno task notebooks --save PATH` each, committing that notebook.
 *
 * @example Usage
 * ```ts
 * import { notebookPlan } from "./republish.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(notebookPlan([{ path: "notebooks/02_mesa.ipynb", reason: "stale" }]), [{
 *   paths: ["notebooks/02_mesa.ipynb"],
 *   command: "deno task notebooks --save notebooks/02_mesa.ipynb",
 *   add: "notebooks/02_mesa.ipynb",
 * }]);
 * ```
 */
export function notebookPlan(stale: readonly Staleness[]): RepublishStep[] {
  return stale.map((s) => ({ paths: [s.path], command: `deno task notebooks --save ${s.path}`, add: s.path }));
}

/** Runs the tool in `root`; returns the exit code (0 done or nothing to do, 1 a rerun or commit failed, 2 usage). */
export async function main(args: string[], root = Deno.cwd()): Promise<number> {
  let dryRun = false, only: string[] | undefined, results = "experiments/results", notebooks = "notebooks";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--dry-run") dryRun = true;
    else if (a === "--only" && args[i + 1]) only = args[++i].split(",").map((s) => s.trim().replace(/\/+$/, ""));
    else if (a === "--results" && args[i + 1]) results = args[++i].replace(/\/+$/, "");
    else if (a === "--notebooks" && args[i + 1]) notebooks = args[++i].replace(/\/+$/, "");
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`error: unknown or incomplete option "${a}"\n${USAGE}`);
      return 2;
    }
  }
  const files = await collectResults(`${root}/${results}`);
  const picked = (s: Staleness) => !only || only.some((d) => s.path === d || s.path.startsWith(`${d}/`));
  let stale = (await checkFreshness(files, { root })).filter(picked);
  let nbPaths: string[];
  try {
    nbPaths = await notebooksIn(notebooks, root);
  } catch {
    nbPaths = [];
  }
  const staleNotebooks = (await checkNotebookFreshness(nbPaths, { root })).filter(picked);
  // A notebook that shows a result rerun here goes stale with it: resave it after the results.
  const current = nbPaths.filter((nb) => !staleNotebooks.some((s) => s.path === nb));
  staleNotebooks.push(...await notebooksShowing(current, stale.map((s) => `${results}/${s.path}`), root));
  let plan: RepublishStep[];
  try {
    plan = [...republishPlan(stale, files, results), ...notebookPlan(staleNotebooks)];
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    return 2;
  }
  stale = [...stale, ...staleNotebooks];
  if (plan.length === 0) {
    console.log("republish: every result and notebook is current");
    return 0;
  }
  for (const [i, s] of plan.entries()) {
    const why = stale.find((x) => x.path === s.paths[0])!.reason;
    console.log(`${i + 1}/${plan.length} ${s.paths.join(", ")}: ${why}\n    ${s.command}`);
  }
  if (dryRun) return 0;
  const refusal = publishRefusal(await gitState(root), false);
  if (refusal) {
    console.error(`error: ${refusal}`);
    return 2;
  }
  for (const [i, s] of plan.entries()) {
    console.log(`\n== ${i + 1}/${plan.length} ${s.command}`);
    const run = await new Deno.Command("bash", { args: ["-c", s.command], cwd: root }).spawn().status;
    if (!run.success) {
      console.error(`error: the command exited with ${run.code}; stopping (results before it are committed)`);
      return 1;
    }
    const add = await runGit(["add", "-A", "--", s.add], root);
    const what = s.add.endsWith(".ipynb") ? "Notebook" : "Result";
    const commit = add.ok && await runGit(["commit", "-q", "-m", `${what} ${s.add} republished: ${s.command}`], root);
    if (!commit || !commit.ok) {
      console.error(`error: could not commit ${s.add}`);
      return 1;
    }
  }
  console.log(`\nrepublish: ${plan.length} rerun(s) committed; now run \`deno task report\` and commit what it writes`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
