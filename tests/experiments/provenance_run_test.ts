import assert from "node:assert/strict";
import { z } from "zod";
import { main } from "../../experiments/run.ts";
import { defineExperiment } from "../../experiments/_lib/experiment.ts";
import type { Provenance } from "../../experiments/_lib/provenance.ts";
import { capture } from "./_fixtures.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { success, stdout } = await new Deno.Command("git", {
    args: ["-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false", ...args],
    cwd,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success, `git ${args.join(" ")}`);
  return new TextDecoder().decode(stdout).trim();
}

/** A one-commit repository to stand in for the checkout whose state a run records. */
async function checkout(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "memtrain-prov-" });
  await Deno.writeTextFile(`${root}/a.ts`, "export const a = 1;\n");
  await git(root, "init", "-q");
  await git(root, "add", ".");
  await git(root, "commit", "-qm", "a");
  return root;
}

/** An experiment that commits to the checkout while it runs, when told to. */
function experiment(root: string) {
  return defineExperiment({
    name: "prov",
    description: "records provenance",
    schema: z.object({ commitDuring: z.boolean().default(false) }),
    quick: {},
    async run(config) {
      if (config.commitDuring) {
        await Deno.writeTextFile(`${root}/a.ts`, "export const a = 2;\n");
        await git(root, "commit", "-qam", "during");
      }
      return [{ technique: "t", model: "m" }];
    },
  });
}

async function runProv(root: string, args: string[], out?: string) {
  const io = capture();
  const dir = out ?? await Deno.makeTempDir();
  const code = await main(["prov", ...args, "--out", dir, "--backend=cpu"], { prov: experiment(root) }, io, {
    checkout: root,
  });
  const read = async () => JSON.parse(await Deno.readTextFile(`${dir}/prov.json`)).env.provenance as Provenance;
  return { code, io, dir, read };
}

Deno.test("experiment provenance: recorded at the start (commit, command, versions, load) and completed at the end", async () => {
  const root = await checkout();
  const r = await runProv(root, ["--quiet"]);
  try {
    assert.equal(r.code, 0, r.io.stderr.join("\n"));
    const p = await r.read();
    assert.equal(p.git.commit, await git(root, "rev-parse", "HEAD"));
    assert.equal(p.git.dirty, false);
    assert.equal(p.revisionChanged, false);
    assert.deepEqual(p.command.slice(0, 4), ["deno", "task", "experiment", "prov"]);
    assert.ok(p.start <= p.end!, "start before end");
    assert.equal(p.load.before.length, 3);
    assert.equal(p.load.after!.length, 3);
    assert.equal(p.versions.deno, Deno.version.deno);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test("experiment provenance: a commit made while the run ran is recorded and warned about", async () => {
  const root = await checkout();
  const start = await git(root, "rev-parse", "HEAD");
  const r = await runProv(root, ["--quiet", "--commitDuring=true"]);
  try {
    assert.equal(r.code, 0, r.io.stderr.join("\n"));
    const p = await r.read();
    assert.equal(p.git.commit, start, "the start commit is what ran");
    assert.equal(p.revisionChanged, true);
    assert.equal(p.gitAtEnd!.commit, await git(root, "rev-parse", "HEAD"));
    assert.ok(r.io.stderr.some((l) => l.startsWith("warning: the checkout changed while the run ran")));
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test("experiment provenance: a dirty tree may not publish under experiments/results/ unless --allowDirty", async () => {
  const root = await checkout();
  await Deno.writeTextFile(`${root}/a.ts`, "export const a = 3;\n");
  const results = `experiments/results/__provenance_test_${crypto.randomUUID().slice(0, 8)}`;
  const refused = await runProv(root, ["--quiet"], results);
  const allowed = await runProv(root, ["--quiet", "--allowDirty"]);
  try {
    assert.equal(refused.code, 2);
    assert.match(refused.io.stderr.at(-1)!, /^error: the working tree has uncommitted changes.*--allowDirty/);
    await assert.rejects(Deno.stat(results), Deno.errors.NotFound, "nothing was written");
    assert.equal(allowed.code, 0, allowed.io.stderr.join("\n"));
    const p = await allowed.read();
    assert.equal(p.git.dirty, true);
    assert.equal(p.allowDirty, true);
    assert.match(p.git.diffSha256!, /^[0-9a-f]{64}$/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(allowed.dir, { recursive: true });
  }
});
