import assert from "node:assert/strict";
import { checkNotebookFreshness, notebookImports, notebookResults } from "../../tools/notebook_freshness.ts";
import { checkReport } from "../../tools/report.ts";
import { main as republish, notebookPlan } from "../../tools/republish.ts";
import { git, repoWith } from "../_util/git.ts";

const NB = "notebooks/n.ipynb";

/** A notebook whose code cells are `cells`, stamped (when `stamp` is given) as `deno task notebooks --save` does. */
function notebook(cells: string[], stamp?: Record<string, unknown>): string {
  return JSON.stringify({
    cells: [{ cell_type: "markdown", source: ["# n"] }, ...cells.map((c) => ({ cell_type: "code", source: [c] }))],
    metadata: stamp ? { memtrain: { command: `deno task notebooks --save ${NB}`, quick: false, ...stamp } } : {},
  });
}

const CELLS = ['import { x } from "../mod.ts";\nimport * as tf from "@tensorflow/tfjs";', "x + 1"];

/** A repository whose mod.ts imports lib/a/x.ts (lib/b/y.ts and lib/viz/v.ts are not measured) and a notebook. */
async function fixtureRepo(): Promise<{ root: string; commit: string }> {
  const root = await repoWith("memtrain-nbfresh-", {
    "lib/a/x.ts": "export const x = 1;\n",
    "lib/b/y.ts": "export const y = 2;\n",
    "lib/viz/v.ts": "export const v = 3;\n",
    "mod.ts": 'export { x } from "./lib/a/x.ts";\nexport { v } from "./lib/viz/v.ts";\n',
    "deno.lock": "{}\n",
    [NB]: notebook(CELLS),
  });
  const commit = await git(root, "rev-parse", "HEAD");
  await save(root, { git: commit.slice(0, 7), commit, dirty: false });
  return { root, commit };
}

/** Writes the notebook (code cells `cells`) with `stamp` and commits it, as a --save run then a commit would. */
async function save(root: string, stamp: Record<string, unknown>, cells = CELLS): Promise<void> {
  await Deno.writeTextFile(`${root}/${NB}`, notebook(cells, stamp));
  await git(root, "commit", "-qam", "save the notebook");
}

async function commitFile(root: string, path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${root}/${path}`, text);
  await git(root, "commit", "-qam", `edit ${path}`);
}

const reasons = async (root: string) => (await checkNotebookFreshness([NB], { root })).map((s) => s.reason);

Deno.test("notebookImports(): the local modules of static, side-effect and dynamic imports, resolved; no packages", () => {
  const cells = [
    'import * as tf from "@tensorflow/tfjs";\nimport { GPT } from "../mod.ts";',
    'import "../lib/backend/mod.ts";\nconst m = await import("../experiments/mezo.ts");',
    "import { a } from './local.ts'; // same folder",
    'import { pipe } from "npm:lodash";\nconst s = "not an import from here";',
  ];
  assert.deepEqual(notebookImports("notebooks/05_mezo.ipynb", cells), [
    "experiments/mezo.ts",
    "lib/backend/mod.ts",
    "mod.ts",
    "notebooks/local.ts",
  ]);
  assert.deepEqual(notebookImports("notebooks/x.ipynb", ["1 + 1"]), []);
});

Deno.test("checkNotebookFreshness(): current until the code its cells import changes; others and presentation do not count", async () => {
  const { root, commit } = await fixtureRepo();
  try {
    assert.deepEqual(await reasons(root), [], "saved at its commit: current");
    await commitFile(root, "lib/b/y.ts", "export const y = 3;\n"); // not imported
    await commitFile(root, "lib/viz/v.ts", "export const v = 4;\n"); // presentation only
    assert.deepEqual(await reasons(root), []);
    await commitFile(root, "lib/a/x.ts", "export const x = 2;\n"); // imported through mod.ts
    const [why] = await reasons(root);
    assert.match(
      why,
      new RegExp(`stale: the code it measures changed after its commit ${commit.slice(0, 7)} .*lib/a/x\\.ts`),
    );
    assert.match(why, /rerun `deno task notebooks --save notebooks\/n\.ipynb` from a clean tree/);
    const now = await git(root, "rev-parse", "HEAD");
    await save(root, { git: now.slice(0, 7), commit: now, dirty: false });
    assert.deepEqual(await reasons(root), [], "resaved at the new commit: current again");
    await commitFile(root, "deno.lock", '{"v": 2}\n'); // a dependency changed
    assert.match((await reasons(root))[0], /deno\.lock/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkNotebookFreshness(): edited code cells, no stamp, a quick or dirty run, an old stamp, an unknown commit", async () => {
  const { root, commit } = await fixtureRepo();
  const stamp = { git: commit.slice(0, 7), commit, dirty: false };
  try {
    await save(root, stamp, [CELLS[0], "x + 2"]); // the outputs are those of "x + 1"
    assert.match((await reasons(root))[0], new RegExp(`its code cells changed after its commit ${commit.slice(0, 7)}`));
    await Deno.writeTextFile(`${root}/${NB}`, notebook(CELLS));
    assert.match((await reasons(root))[0], /no outputs of a saved run \(metadata\.memtrain\)/);
    await Deno.writeTextFile(`${root}/${NB}`, notebook(CELLS, { ...stamp, quick: true }));
    assert.match((await reasons(root))[0], /its outputs come from a quick run/);
    await Deno.writeTextFile(
      `${root}/${NB}`,
      notebook(CELLS, { ...stamp, git: `${commit.slice(0, 7)}-dirty`, dirty: true }),
    );
    assert.match((await reasons(root))[0], /saved from a dirty tree/);
    await Deno.writeTextFile(`${root}/${NB}`, notebook(CELLS, { git: commit.slice(0, 7) })); // before commit/dirty
    assert.deepEqual(await reasons(root), [
      "no start-time provenance (full commit and dirty flag): " +
      "rerun `deno task notebooks --save notebooks/n.ipynb` from a clean tree",
    ]);
    await Deno.writeTextFile(`${root}/${NB}`, notebook(CELLS, { git: "unknown", commit: "unknown", dirty: false }));
    assert.deepEqual(await reasons(root), [
      "no start-time provenance (full commit and dirty flag); no commit recorded: " +
      "rerun `deno task notebooks --save notebooks/n.ipynb` from a clean tree",
    ], "saved outside a git checkout");
    await Deno.writeTextFile(`${root}/${NB}`, notebook(CELLS, { ...stamp, commit: "0".repeat(40) }));
    assert.match((await reasons(root))[0], /not in its commit 0000000/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report --check and republish count the notebooks: a stale one is a problem and a planned resave", async () => {
  const { root } = await fixtureRepo();
  const log = console.log, error = console.error;
  const lines: string[] = [];
  try {
    await Deno.mkdir(`${root}/results`);
    const check = (notebooks?: string) =>
      checkReport(`${root}/results`, `${root}/results.md`, undefined, root, notebooks);
    const before = (await check("notebooks")).filter((p) => p.startsWith(NB));
    assert.deepEqual(before, [], "a current notebook is no problem");
    await commitFile(root, "lib/a/x.ts", "export const x = 2;\n");
    const after = (await check("notebooks")).filter((p) => p.startsWith(NB));
    assert.equal(after.length, 1);
    assert.match(after[0], /^notebooks\/n\.ipynb: stale: the code it measures changed/);
    assert.deepEqual((await check()).filter((p) => p.startsWith(NB)), [], "without a notebooks directory: not checked");

    console.log = console.error = (...a: unknown[]) => void lines.push(a.join(" "));
    assert.equal(await republish(["--dry-run", "--results", "results"], root), 0);
    assert.match(
      lines.join("\n"),
      /1\/1 notebooks\/n\.ipynb: stale.*\n {4}deno task notebooks --save notebooks\/n\.ipynb/,
    );
    assert.deepEqual(notebookPlan([{ path: NB, reason: "stale" }]), [
      { paths: [NB], command: `deno task notebooks --save ${NB}`, add: NB },
    ]);
  } finally {
    console.log = log;
    console.error = error;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("notebookResults(): paths under experiments/results/ in string literals, from the notebook's folder or the root", () => {
  const cells = [
    'const RESULTS = "../experiments/results/galore";',
    'for (const p of ["../experiments/results/streambp/streambp.json", "experiments/results/streambp/streambp.json"]) {}',
    "const other = `./experiments/results/local.json`; // beside the notebook",
    'const note = "run deno task experiment mezo --out experiments/results/mezo"; // a command, not a path literal',
  ];
  assert.deepEqual(notebookResults("notebooks/n.ipynb", cells), [
    "experiments/results/galore",
    "experiments/results/streambp/streambp.json",
    "notebooks/experiments/results/local.json",
  ]);
});

Deno.test("a notebook that shows a committed result is stale once that result changes; republish resaves it after", async () => {
  const cells = [...CELLS, 'const FULL = JSON.parse(Deno.readTextFileSync("../experiments/results/q/r.json"));'];
  const { root } = await fixtureRepo();
  const log = console.log, error = console.error;
  const lines: string[] = [];
  try {
    await Deno.mkdir(`${root}/experiments/results/q`, { recursive: true });
    const result = (loss: number, commit: string) =>
      JSON.stringify({
        experiment: "quickstart",
        config: {},
        env: { provenance: { git: { commit, dirty: false }, command: ["true"] } },
        rows: [{ technique: "t", model: "m", loss }],
      });
    await Deno.writeTextFile(`${root}/experiments/results/q/r.json`, result(1, "0".repeat(40)));
    await Deno.writeTextFile(`${root}/${NB}`, notebook(cells)); // the cell that reads it
    await git(root, "add", ".");
    await git(root, "commit", "-qm", "a result and a notebook showing it");
    const now = await git(root, "rev-parse", "HEAD");
    await save(root, { git: now.slice(0, 7), commit: now, dirty: false }, cells);
    assert.deepEqual(await reasons(root), [], "saved after the result: current");
    await commitFile(root, "experiments/results/q/r.json", result(2, "0".repeat(40))); // the result is republished
    assert.match((await reasons(root))[0], /stale: the results it shows changed after its commit .*r\.json/);

    // A current notebook that shows a result republish will rerun is planned after it.
    const head = await git(root, "rev-parse", "HEAD");
    await save(root, { git: head.slice(0, 7), commit: head, dirty: false }, cells);
    assert.deepEqual(await reasons(root), []);
    console.log = console.error = (...a: unknown[]) => void lines.push(a.join(" "));
    await republish(["--dry-run", "--results", "experiments/results"], root);
    const out = lines.join("\n");
    assert.match(out, /1\/2 q\/r\.json: .*\n {4}true/, out);
    assert.match(out, /2\/2 notebooks\/n\.ipynb: it shows experiments\/results\/q\/r\.json, rerun here/, out);
  } finally {
    console.log = log;
    console.error = error;
    await Deno.remove(root, { recursive: true });
  }
});
