import assert from "node:assert/strict";
import { main, republishPlan } from "../../tools/republish.ts";
import type { ResultFile } from "../../tools/report.ts";
import { git, repoWith } from "../_util/git.ts";

/** A result JSON whose provenance names `commit` and whose recorded command rewrites it at the then current HEAD. */
function resultJson(commit: string): string {
  const write = `c=$(git rev-parse HEAD); printf '{"experiment":"quickstart","config":{},"env":{"provenance":` +
    `{"git":{"commit":"%s","dirty":false},"command":["true"]}},"rows":[{"loss":2}]}' "$c" > experiments/results/q/r.json`;
  return JSON.stringify({
    experiment: "quickstart",
    config: {},
    env: { provenance: { git: { commit, dirty: false }, command: ["sh", "-c", write] } },
    rows: [{ loss: 1 }],
  });
}

/** A repository with an experiment entry importing lib/x.ts and a result of it at the first commit. */
async function fixtureRepo(): Promise<string> {
  const root = await repoWith("memtrain-republish-", {
    "lib/x.ts": "export const x = 1;\n",
    "experiments/quickstart.ts": 'import { x } from "../lib/x.ts";\nexport const q = x;\n',
    "deno.lock": "{}\n",
  });
  await Deno.mkdir(`${root}/experiments/results/q`, { recursive: true });
  await Deno.writeTextFile(`${root}/experiments/results/q/r.json`, resultJson(await git(root, "rev-parse", "HEAD")));
  await git(root, "add", ".");
  await git(root, "commit", "-qm", "result");
  return root;
}

Deno.test("republish: the plan reruns each recorded command once, settings in front; no command is an error", () => {
  const file = (path: string, out: string): ResultFile => ({
    path,
    experiment: "mezo",
    config: {},
    rows: [],
    env: {
      provenance: {
        command: ["deno", "task", "experiment", "mezo", "--out", out],
        settings: { MEMTRAIN_HEAP: "stock" },
      },
    },
  });
  const files = [
    file("mezo/a.json", "experiments/results/mezo"),
    file("mezo/b.json", "experiments/results/mezo"),
    file("top.json", "experiments/results"),
  ];
  const stale = files.map((f) => ({ path: f.path, reason: "stale" }));
  assert.deepEqual(republishPlan(stale, files), [
    {
      paths: ["mezo/a.json", "mezo/b.json"],
      command: "MEMTRAIN_HEAP=stock deno task experiment mezo --out experiments/results/mezo",
      add: "experiments/results/mezo",
    },
    {
      paths: ["top.json"],
      command: "MEMTRAIN_HEAP=stock deno task experiment mezo --out experiments/results",
      add: "experiments/results/top.json",
    },
  ]);
  const bare: ResultFile = { path: "x/x.json", experiment: "no-such", config: {}, env: {}, rows: [] };
  assert.throws(() => republishPlan([{ path: "x/x.json", reason: "stale" }], [bare]), /Cannot republish .*x\/x\.json/);
});

Deno.test("republish: a stale result is rerun from a clean tree and committed; a dirty tree is refused", async () => {
  const root = await fixtureRepo();
  const log = console.log, error = console.error;
  const lines: string[] = [];
  console.log = console.error = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    assert.equal(await main([], root), 0);
    assert.match(lines.join("\n"), /every result and notebook is current/);
    await Deno.writeTextFile(`${root}/lib/x.ts`, "export const x = 2;\n");
    await git(root, "commit", "-qam", "change the measured code");
    const changed = await git(root, "rev-parse", "HEAD");

    lines.length = 0;
    assert.equal(await main(["--dry-run"], root), 0);
    assert.match(lines.join("\n"), /1\/1 q\/r\.json: stale/);
    assert.equal(await git(root, "rev-parse", "HEAD"), changed, "a dry run commits nothing");

    await Deno.writeTextFile(`${root}/untracked.txt`, "x");
    assert.equal(await main([], root), 2, "a dirty tree is refused");
    await Deno.remove(`${root}/untracked.txt`);

    lines.length = 0;
    assert.equal(await main([], root), 0, lines.join("\n"));
    assert.match(await git(root, "log", "-1", "--format=%s"), /^Result experiments\/results\/q republished: sh -c /);
    const rerun = JSON.parse(await Deno.readTextFile(`${root}/experiments/results/q/r.json`));
    assert.equal(rerun.env.provenance.git.commit, changed, "the rerun ran at the changed code");
    assert.equal(await git(root, "status", "--porcelain"), "", "the result is committed");
    lines.length = 0;
    assert.equal(await main([], root), 0);
    assert.match(lines.join("\n"), /every result and notebook is current/);
  } finally {
    console.log = log;
    console.error = error;
    await Deno.remove(root, { recursive: true });
  }
});
