import assert from "node:assert/strict";
import { main } from "../../experiments/run.ts";
import { experiments } from "../../experiments/registry.ts";
import { disposeTreeTensors, readStateFile } from "../../lib/state/mod.ts";
import { capture } from "./_fixtures.ts";

const ARGS = [
  "mesa",
  "--quick",
  "--models=gpt",
  "--variants=mesa-head-wise",
  "--gptSteps=3",
  "--checkpointEvery=1",
  "--in-process",
  "--quiet",
];

async function run(args: string[]) {
  const io = capture();
  const code = await main(args, experiments, io, { gitVersion: () => Promise.resolve("abc1234") });
  assert.equal(code, 0, io.stderr.join("\n"));
}

Deno.test("experiment --checkpointEvery/--resume: a standard run checkpoints with its technique's state and resumes to the same figures", async () => {
  const out = await Deno.makeTempDir();
  try {
    await run([...ARGS, "--out", out]);
    const dir = `${out}/checkpoints/gpt-mesa-head-wise`;
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(files.slice(-2), ["step-00000002.safetensors", "step-00000003.safetensors"]);
    const file = readStateFile(`${dir}/step-00000002.safetensors`);
    const stateful = file.tree.stateful as Record<string, unknown> | undefined;
    disposeTreeTensors(file.tree);
    assert.ok(stateful && "mesa" in stateful, "Mesa's running ranges are in the checkpoint");
    const first = JSON.parse(Deno.readTextFileSync(`${out}/mesa.json`)).rows[0];
    // As if the run had been killed after step 2: its last checkpoint and the result are gone.
    Deno.removeSync(`${dir}/step-00000003.safetensors`);
    Deno.removeSync(`${out}/mesa.json`);
    await run([...ARGS, "--resume", "--out", out]);
    const resumed = JSON.parse(Deno.readTextFileSync(`${out}/mesa.json`)).rows[0];
    for (const k of ["steps", "loss", "valLoss", "accuracy"]) assert.equal(resumed[k], first[k], k);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
