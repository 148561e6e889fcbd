import assert from "node:assert/strict";
import { checkFreshness, entryOf, measuredFiles } from "../../tools/freshness.ts";
import { checkReport, type ResultFile } from "../../tools/report.ts";
import { finishProvenance, gitState, publishRefusal, startProvenance } from "../../experiments/_lib/provenance.ts";
import { git as sh, repoWith } from "../_util/git.ts";

/** A repository with an experiment `quickstart` whose entry imports lib/a/x.ts and a chart module. */
function fixtureRepo(): Promise<string> {
  return repoWith("memtrain-fresh-", {
    "lib/a/x.ts": "export const x = 1;\n",
    "lib/b/y.ts": "export const y = 2;\n",
    "experiments/_lib/charts.ts": "export const c = 3;\n",
    "experiments/quickstart.ts":
      'import { x } from "../lib/a/x.ts";\nimport { c } from "./_lib/charts.ts";\nexport const q = x + c;\n',
    "deno.lock": "{}\n",
  });
}

function result(commit: string, extra: Record<string, unknown> = {}): ResultFile {
  return {
    path: "q/quickstart.json",
    experiment: "quickstart",
    config: {},
    env: { git: commit.slice(0, 7), provenance: { git: { commit, dirty: false }, ...extra } },
    rows: [{ technique: "baseline", model: "gpt-tiny", loss: 1 }],
  };
}

async function commitFile(root: string, path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${root}/${path}`, text);
  await sh(root, "commit", "-qam", `edit ${path}`);
}

Deno.test("measuredFiles(): the entry's local imports and deno.lock, without presentation modules", async () => {
  const root = await fixtureRepo();
  try {
    assert.deepEqual(await measuredFiles("experiments/quickstart.ts", root), [
      "deno.lock",
      "experiments/quickstart.ts",
      "lib/a/x.ts",
    ]);
    assert.equal(entryOf("mesa-ranges"), "experiments/mesa_ranges.ts");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkFreshness(): current until the measured code changes; other code and presentation do not count", async () => {
  const root = await fixtureRepo();
  try {
    const commit = await sh(root, "rev-parse", "HEAD");
    assert.deepEqual(await checkFreshness([result(commit)], { root }), []);
    await commitFile(root, "lib/b/y.ts", "export const y = 3;\n"); // not imported
    await commitFile(root, "experiments/_lib/charts.ts", "export const c = 4;\n"); // presentation only
    assert.deepEqual(await checkFreshness([result(commit)], { root }), []);
    await commitFile(root, "lib/a/x.ts", "export const x = 2;\n"); // measured
    const [s] = await checkFreshness([result(commit)], { root });
    assert.equal(s.path, "q/quickstart.json");
    assert.match(s.reason, /stale: the code it measures changed after its commit .* lib\/a\/x\.ts/);
    // A result of the new commit is current again.
    assert.deepEqual(await checkFreshness([result(await sh(root, "rev-parse", "HEAD"))], { root }), []);
    await commitFile(root, "deno.lock", '{"v": 2}\n'); // a dependency changed
    assert.match((await checkFreshness([result(commit)], { root }))[0].reason, /deno\.lock/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkFreshness(): missing provenance, a dirty tree without allowDirty, a changed checkout, unknown commit", async () => {
  const root = await fixtureRepo();
  try {
    const commit = await sh(root, "rev-parse", "HEAD");
    const legacy: ResultFile = { ...result(commit), env: { git: `${commit.slice(0, 7)}-dirty` } };
    assert.match((await checkFreshness([legacy], { root }))[0].reason, /no start-time provenance; ran on a dirty tree/);
    const dirty = result(commit);
    (dirty.env.provenance as { git: { dirty: boolean } }).git.dirty = true;
    assert.match((await checkFreshness([dirty], { root }))[0].reason, /dirty tree without --allowDirty/);
    const allowed = result(commit, { allowDirty: true });
    (allowed.env.provenance as { git: { dirty: boolean } }).git.dirty = true;
    assert.deepEqual(await checkFreshness([allowed], { root }), []);
    const moved = result(commit, { revisionChanged: true });
    assert.match((await checkFreshness([moved], { root }))[0].reason, /checkout changed while it ran/);
    const unknown = result("0123456789abcdef0123456789abcdef01234567");
    assert.match((await checkFreshness([unknown], { root }))[0].reason, /not in this repository/);
    const noEntry = { ...result(commit), experiment: "nosuch" };
    assert.match((await checkFreshness([noEntry], { root }))[0].reason, /no entry file experiments\/nosuch\.ts/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("provenance: recorded at the start, a commit during the run and dirty edits are detected", async () => {
  const root = await fixtureRepo();
  try {
    const p = await startProvenance({ cwd: root, command: ["deno", "task", "experiment", "quickstart"] });
    assert.equal(p.git.commit, await sh(root, "rev-parse", "HEAD"));
    assert.equal(p.git.dirty, false);
    assert.deepEqual(p.command, ["deno", "task", "experiment", "quickstart"]);
    assert.ok(p.cpu.cores >= 1 && p.versions.deno === Deno.version.deno && p.load.before.length === 3);
    const memtrainVars = Object.keys(Deno.env.toObject()).filter((k) => k.startsWith("MEMTRAIN_"));
    assert.deepEqual(Object.keys(p.settings).sort(), memtrainVars.sort(), "every MEMTRAIN_* setting is recorded");
    Deno.env.set("MEMTRAIN_PROVENANCE_PROBE", "1");
    try {
      const probed = await startProvenance({ cwd: root, command: ["x"] });
      assert.equal(probed.settings.MEMTRAIN_PROVENANCE_PROBE, "1");
    } finally {
      Deno.env.delete("MEMTRAIN_PROVENANCE_PROBE");
    }
    const same = await finishProvenance(p, root);
    assert.equal(same.revisionChanged, false);
    assert.equal(same.gitAtEnd, undefined);
    await Deno.writeTextFile(`${root}/lib/a/x.ts`, "export const x = 5;\n");
    const d1 = await gitState(root);
    assert.ok(d1.dirty && /^[0-9a-f]{64}$/.test(d1.diffSha256!));
    await Deno.writeTextFile(`${root}/lib/a/x.ts`, "export const x = 6;\n");
    assert.notEqual((await gitState(root)).diffSha256, d1.diffSha256, "two different diffs hash differently");
    const edited = await finishProvenance(p, root);
    assert.equal(edited.revisionChanged, true);
    await sh(root, "commit", "-qam", "during the run");
    const committed = await finishProvenance(p, root);
    assert.equal(committed.revisionChanged, true);
    assert.notEqual(committed.gitAtEnd!.commit, p.git.commit);
    assert.match(publishRefusal(d1, false)!, /uncommitted changes.*--allowDirty/);
    assert.equal(publishRefusal(d1, true), undefined);
    assert.match(publishRefusal({ commit: "unknown", dirty: false }, true)!, /git checkout/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report --check: fails when a committed JSON value changes under a generated README block", async () => {
  const root = await fixtureRepo();
  try {
    const commit = await sh(root, "rev-parse", "HEAD");
    const dir = `${root}/results`;
    await Deno.mkdir(`${dir}/q`, { recursive: true });
    const record = { experiment: "quickstart", config: {}, env: result(commit).env, rows: result(commit).rows };
    await Deno.writeTextFile(`${dir}/q/quickstart.json`, JSON.stringify(record));
    const readme = `${root}/README.md`;
    await Deno.writeTextFile(
      readme,
      "# x\n\n<!-- report:table q/quickstart.json columns=technique,model,loss -->\n<!-- /report -->\n",
    );
    // Fill the block and the page as `deno task report` would, then check: only freshness-free problems remain.
    const { main } = await import("../../tools/report.ts");
    assert.equal(await main(["--results", dir, "--out", `${root}/docs/results.md`, "--readme", readme]), 0);
    assert.deepEqual(await checkReport(dir, `${root}/docs/results.md`, readme, root), []);
    record.rows[0].loss = 2;
    await Deno.writeTextFile(`${dir}/q/quickstart.json`, JSON.stringify(record));
    const problems = await checkReport(dir, `${root}/docs/results.md`, readme, root);
    assert.ok(problems.some((p) => p.includes("results.md differs")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("README.md: generated blocks differ")), problems.join("\n"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
