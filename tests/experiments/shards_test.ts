import assert from "node:assert/strict";
import { z } from "zod";
import { defineExperiment, type Registry, type Row, runCellsInOrder } from "../../experiments/_lib/experiment.ts";
import { shardCells, shardFileName } from "../../experiments/_lib/shards.ts";
import { main } from "../../experiments/run.ts";
import { experiments } from "../../experiments/registry.ts";
import { capture, echo } from "./_fixtures.ts";

/** A toy sweep: 2 models x 3 techniques, rows that depend on the seed and the cell, ratios to the baseline cell. */
const sweep = defineExperiment({
  name: "sweep",
  description: "A toy sweep with cells",
  schema: z.object({ seed: z.number().int().default(0), models: z.array(z.string()).default(["a", "b"]) }),
  quick: {},
  columns: ["technique", "model", "value", "ratio"],
  cells: (config) =>
    config.models.flatMap((model) => ["baseline", "t1", "t2"].map((technique) => ({ model, technique }))),
  runCell: (config, cell) => {
    const value = (config.seed + 1) * (String(cell.model).charCodeAt(0) + String(cell.technique).length);
    // The baseline cell of model "b" returns two rows, so per-cell row counts differ.
    const extra = cell.model === "b" && cell.technique === "baseline"
      ? [{ technique: "note", model: "b", value: 0 }]
      : [];
    return Promise.resolve([{ technique: String(cell.technique), model: String(cell.model), value }, ...extra]);
  },
  finalize: (rows) =>
    rows.map((r) => ({
      ...r,
      ratio: Number(r.value) / Number(rows.find((b) => b.model === r.model && b.technique === "baseline")!.value),
    })),
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});

const registry: Registry = { sweep, echo };

async function run(reg: Registry, args: string[], git = "abc1234") {
  const io = capture();
  const code = await main(args[0] === "merge" ? args : [...args, "--backend=cpu"], reg, io, {
    gitVersion: () => Promise.resolve(git),
  });
  return { code, io, stderr: io.stderr.join("\n") };
}

const rowsOf = async (path: string): Promise<Row[]> => JSON.parse(await Deno.readTextFile(path)).rows;

Deno.test("shardCells() splits round-robin and covers every cell once", () => {
  assert.deepEqual(shardCells(7, 1, 3), [0, 3, 6]);
  assert.deepEqual(shardCells(7, 2, 3), [1, 4]);
  assert.deepEqual(shardCells(7, 3, 3), [2, 5]);
  assert.deepEqual(shardCells(2, 3, 3), [], "more shards than cells: an empty shard");
  assert.equal(shardFileName("memory", 2, 3), "memory.shard-2-of-3.json");
});

Deno.test("shards 1/3, 2/3, 3/3 merged equal the unsharded run's rows; mismatches are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let r = await run(registry, ["sweep", "--seed=2", "--out", `${dir}/full`]);
    assert.equal(r.code, 0, r.stderr);
    const full = await rowsOf(`${dir}/full/sweep.json`);
    for (let i = 1; i <= 3; i++) {
      r = await run(registry, ["sweep", "--seed=2", "--shard", `${i}/3`, "--out", `${dir}/shards`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.io.stdout.at(-1) === `wrote ${dir}/shards/sweep.shard-${i}-of-3.json`, r.io.stdout.join("\n"));
    }
    const shard1 = JSON.parse(await Deno.readTextFile(`${dir}/shards/sweep.shard-1-of-3.json`));
    assert.deepEqual(shard1.shard, { index: 1, count: 3, totalCells: 6, cells: [[0, 1], [3, 2]] });
    assert.equal(shard1.rows[0].ratio, undefined, "a shard's rows are not finalized");

    r = await run(registry, ["merge", `${dir}/shards`, "--out", `${dir}/merged`]);
    assert.equal(r.code, 0, r.stderr);
    const merged = JSON.parse(await Deno.readTextFile(`${dir}/merged/sweep.json`));
    assert.deepEqual(merged.rows, full, "same rows, same order, finalized across shards");
    assert.deepEqual(merged.config, JSON.parse(await Deno.readTextFile(`${dir}/full/sweep.json`)).config);
    assert.deepEqual(merged.env.shards.map((s: { index: number }) => s.index), [1, 2, 3]);

    // A shard run with another config, another git revision, a missing and a repeated shard.
    const bad = async (args: string[], git: string, message: RegExp) => {
      const d = await Deno.makeTempDir({ dir });
      for (const f of ["sweep.shard-1-of-3.json", "sweep.shard-3-of-3.json"]) {
        await Deno.copyFile(`${dir}/shards/${f}`, `${d}/${f}`);
      }
      if (args.length) assert.equal((await run(registry, [...args, "--out", d], git)).code, 0);
      const m = await run(registry, ["merge", d, "--out", `${d}/merged`]);
      assert.equal(m.code, 2, m.io.stdout.join("\n"));
      assert.match(m.io.stderr.at(-1)!, message);
    };
    await bad(["sweep", "--seed=3", "--shard=2/3"], "abc1234", /different configs \(keys: seed\)/);
    await bad(["sweep", "--seed=2", "--shard=2/3"], "def5678", /different git revisions: "abc1234" vs "def5678"/);
    await bad([], "abc1234", /missing shard\(s\) 2\/3/);
    await bad(["sweep", "--seed=2", "--shard=2/2"], "abc1234", /different shard counts/);
    r = await run(registry, ["merge", `${dir}/shards`, `${dir}/shards/sweep.shard-1-of-3.json`, "--out", `${dir}/m2`]);
    assert.equal(r.code, 0, "a file named twice counts once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--shard needs an experiment with cells; merge needs shard files", async () => {
  let r = await run(registry, ["echo", "--shard=1/2", "--out", "/tmp/unused-shard"]);
  assert.equal(r.code, 2);
  assert.equal(r.io.stderr.at(-1), 'error: experiment "echo" defines no cells, so it cannot be sharded (--shard)');
  const empty = await Deno.makeTempDir();
  try {
    r = await run(registry, ["merge", empty]);
    assert.equal(r.code, 2);
    assert.match(r.io.stderr.at(-1)!, /holds no shard file/);
    r = await run(registry, ["merge"]);
    assert.equal(r.code, 2);
    assert.match(r.io.stderr.at(-1)!, /merge needs the shards' directories/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("memory --quick: shards 1/3..3/3 merged give the unsharded rows (same seeds; timings aside)", async () => {
  const dir = await Deno.makeTempDir();
  const args = [
    "memory",
    "--quick",
    "--vit=false",
    "--techniques=baseline,checkpoint-every,mesa-per-tensor",
    "--quiet",
  ];
  try {
    const io = capture();
    const go = (extra: string[]) => main([...args, ...extra, "--backend=wasm"], experiments, io);
    assert.equal(await go(["--out", `${dir}/full`]), 0, io.stderr.join("\n"));
    for (let i = 1; i <= 3; i++) assert.equal(await go([`--shard=${i}/3`, "--out", `${dir}/shards`]), 0);
    assert.equal(await main(["merge", `${dir}/shards`, "--out", `${dir}/merged`], experiments, io), 0);
    const full = await rowsOf(`${dir}/full/memory.json`);
    const merged = await rowsOf(`${dir}/merged/memory.json`);
    assert.deepEqual(merged.map((r) => r.technique), ["baseline", "checkpoint-every", "mesa-per-tensor"]);
    const timing = new Set(["msPerStep", "timeRatio"]);
    const strip = (rows: Row[]) =>
      rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !timing.has(k))));
    assert.deepEqual(strip(merged), strip(full));
    assert.equal(merged[1].savedRatio, full[1].savedRatio);
    assert.ok(Number(merged[1].savedRatio) < 0.5, "finalize ran across shards (ratio to the baseline shard)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
