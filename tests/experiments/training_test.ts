import assert from "node:assert/strict";
import { z } from "zod";
import { defineExperiment, type RunContext } from "../../experiments/_lib/experiment.ts";
import { trainingOptions } from "../../experiments/_lib/training.ts";
import { main } from "../../experiments/run.ts";

Deno.test("trainingOptions(): per-cell folders under --out/checkpoints, distinct for distinct ids", () => {
  const t = trainingOptions("runs/x/", { resume: true, checkpointEvery: 10, skipNonFinite: true });
  assert.deepEqual([t.resume, t.checkpointEvery, t.skipNonFinite], [true, 10, true]);
  assert.equal(t.dir("gpt-mesa_2.a"), "runs/x/checkpoints/gpt-mesa_2.a");
  const a = t.dir("gpt mesa"), b = t.dir("gpt/mesa"), c = t.dir("../up");
  assert.match(a, /^runs\/x\/checkpoints\/gpt_mesa-[0-9a-f]{8}$/);
  assert.notEqual(a, b, "two ids that sanitize alike still get two folders");
  assert.ok(!c.includes(".."), `no way out of the folder: ${c}`);
  assert.throws(() => t.dir(""), { name: "RangeError", message: /'cellId' must be a non-empty string/ });
  assert.equal(trainingOptions("o", { resume: false, skipNonFinite: false }).checkpointEvery, undefined);
  assert.throws(() => trainingOptions("o", { resume: false, checkpointEvery: 0, skipNonFinite: false }), {
    name: "RangeError",
    message: "Cannot set training options: 'checkpointEvery' must be a positive integer: current value is 0",
  });
});

Deno.test("main() passes --resume, --checkpointEvery and --skipNonFinite to experiments as ctx.training", async () => {
  const seen: RunContext[] = [];
  const probe = defineExperiment({
    name: "probe",
    description: "Records its context",
    schema: z.object({}),
    quick: {},
    cells: () => [{ c: 0 }],
    runCell: (_config, _cell, ctx) => {
      seen.push(ctx);
      return Promise.resolve([{ technique: "t", model: "m" }]);
    },
    run: (_config, ctx) => {
      seen.push(ctx);
      return Promise.resolve([{ technique: "t", model: "m" }]);
    },
  });
  const plain = defineExperiment({ ...probe, name: "plain", cells: undefined, runCell: undefined });
  const io = { out: () => {}, err: () => {} }, git = { gitVersion: () => Promise.resolve("x") };
  const out = await Deno.makeTempDir();
  const reg = { probe, plain };
  const flags = ["--out", out, "--backend=cpu", "--quiet"];
  assert.equal(await main(["probe", ...flags, "--checkpointEvery=25", "--skipNonFinite"], reg, io, git), 0);
  assert.equal(await main(["plain", ...flags, "--resume"], reg, io, git), 0);
  assert.equal(await main(["probe", ...flags], reg, io, git), 0);
  const t = seen.map((c) => c.training!);
  assert.deepEqual(t.map((x) => [x.resume, x.checkpointEvery, x.skipNonFinite]), [
    [false, 25, true],
    [true, undefined, false],
    [false, undefined, false],
  ]);
  assert.equal(t[0].dir("cell-0"), `${out}/checkpoints/cell-0`);
});
