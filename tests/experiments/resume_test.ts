import assert from "node:assert/strict";
import { main, type MainIO } from "../../experiments/run.ts";
import { sweepRegistry } from "./_sweep_fixture.ts";

const FIXTURE = new URL("./_sweep_fixture.ts", import.meta.url).pathname;
const GIT = { gitVersion: () => Promise.resolve("abc1234") };
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

function capture(): MainIO & { lines: string[]; errs: string[] } {
  const lines: string[] = [], errs: string[] = [];
  return { lines, errs, out: (s) => lines.push(s), err: (s) => errs.push(s) };
}

async function runIn(args: string[]) {
  const io = capture();
  const code = await main([...args, "--backend=cpu", "--quiet"], sweepRegistry, io, GIT);
  return { code, ...io };
}

const runs = async (dir: string) => (await Deno.readTextFile(`${dir}/runs.log`)).trim().split("\n").map(Number);
const result = async (out: string) => JSON.parse(await Deno.readTextFile(`${out}/sweepy.json`));
const journalLines = async (out: string) =>
  (await Deno.readTextFile(`${out}/sweepy.cells.jsonl`)).split("\n").filter((l) => l).map((l) => JSON.parse(l));

/** Starts the sweep in a child process and waits until cell `wait` started (cells before it are journaled). */
async function startChild(dir: string, out: string, wait: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, "sweepy", `--dir=${dir}`, "--out", out, "--backend=cpu", "--quiet"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  while (!await exists(`${dir}/started-${wait}`)) await new Promise((r) => setTimeout(r, 20));
  return child;
}

async function reference(): Promise<{ rows: unknown; config: Record<string, unknown> }> {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  assert.equal((await runIn(["sweepy", `--dir=${dir}`, "--out", out])).code, 0);
  const r = await result(out);
  assert.equal(await exists(`${out}/sweepy.cells.jsonl`), false, "a finished sweep removes its journal");
  return r;
}

Deno.test("a sweep killed (SIGKILL) after two cells resumes, runs only the rest and writes the same result", async () => {
  const ref = await reference();
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/block-2`, "");
  const child = await startChild(dir, out, 2);
  child.kill("SIGKILL");
  await child.output();
  assert.deepEqual((await journalLines(out)).map((e) => e.index), [0, 1], "the two finished cells are journaled");
  assert.equal(await exists(`${out}/sweepy.json`), false);
  await Deno.remove(`${dir}/block-2`);
  const resumed = await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--resume"]);
  assert.equal(resumed.code, 0, resumed.errs.join("\n"));
  assert.deepEqual(await runs(dir), [0, 1, 2, 2, 3, 4], "cells 0 and 1 ran once; the killed cell 2 ran again");
  const got = await result(out);
  assert.deepEqual(got.rows, ref.rows);
  assert.deepEqual({ ...got.config, dir: "" }, { ...ref.config, dir: "" });
});

Deno.test("resuming cells journaled at another git version warns (the result would mix code versions)", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-2`, "");
  await runIn(["sweepy", `--dir=${dir}`, "--out", out]);
  assert.deepEqual((await journalLines(out)).map((e) => e.git), ["abc1234", "abc1234"]);
  await Deno.remove(`${dir}/fail-2`);
  const io = capture();
  const args = ["sweepy", `--dir=${dir}`, "--out", out, "--resume", "--backend=cpu", "--quiet"];
  assert.equal(await main(args, sweepRegistry, io, { gitVersion: () => Promise.resolve("def5678") }), 0);
  assert.ok(
    io.errs.includes("warning: resuming cells that ran at git abc1234, not def5678: the result mixes code versions"),
  );
});

Deno.test("SIGINT finishes the running cell, prints the exact resume command and exits 130", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/block-2`, "");
  const child = await startChild(dir, out, 2);
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200)); // the listener sees the signal while cell 2 waits
  await Deno.writeTextFile(`${dir}/release`, "");
  const { code, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 130, err);
  const line = err.trim().split("\n").at(-1)!;
  const command = `deno task experiment sweepy --dir=${dir} --out ${out} --backend=cpu --quiet --resume`;
  assert.equal(line, `interrupted: 3 of 5 cells finished (in ${out}/sweepy.cells.jsonl); resume with: ${command}`);
  assert.deepEqual((await journalLines(out)).map((e) => e.index), [0, 1, 2], "the running cell finished");
  assert.deepEqual(await Array.fromAsync(Deno.readDir(out), (e) => e.name), ["sweepy.cells.jsonl"], "no temp files");
  const args = command.replace("deno task experiment ", "").split(" ");
  const io = capture();
  assert.equal(await main(args, sweepRegistry, io, GIT), 0, io.errs.join("\n"));
  assert.deepEqual(await runs(dir), [0, 1, 2, 3, 4], "each cell ran once");
  assert.deepEqual((await result(out)).rows, (await reference()).rows);
});

Deno.test("--resume with another config is refused (exit 2) and the journal is kept", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-2`, "");
  const failed = await runIn(["sweepy", `--dir=${dir}`, "--out", out]);
  assert.equal(failed.code, 1);
  await Deno.remove(`${dir}/fail-2`);
  const r = await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--resume", "--scale=2"]);
  assert.equal(r.code, 2);
  assert.equal(r.errs.length, 1, r.errs.join("\n"));
  assert.match(r.errs[0], /^error: cannot resume from .*sweepy\.cells\.jsonl: it was recorded with a different config/);
  assert.match(r.errs[0], /scale: 1 recorded, 2 now/);
  const quick = await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--resume", "--quick", "--n=5"]);
  assert.match(quick.errs[0], /recorded without --quick/);
  assert.equal((await journalLines(out)).length, 2);
  const again = await runIn(["sweepy", `--dir=${dir}`, "--out", out]);
  assert.equal(again.code, 2, "without --resume an unfinished sweep is not overwritten");
  assert.match(again.errs[0], /add --resume to continue it/);
  assert.equal((await journalLines(out)).length, 2);
});

Deno.test("an error in a cell stops the sweep in one line (exit 1), keeping the finished cells", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-2`, "");
  const r = await runIn(["sweepy", `--dir=${dir}`, "--out", out]);
  assert.equal(r.code, 1);
  assert.equal(r.errs.length, 1, r.errs.join("\n"));
  assert.match(r.errs[0], /^error: cell 2 \(2\) failed: NonFiniteError: loss is NaN at step 3 \(cell 2\)/);
  assert.match(r.errs[0], /\[2 finished cells kept; resume with: deno task experiment sweepy .*--resume\]$/);
  assert.deepEqual(await runs(dir), [0, 1, 2], "no cell after the failed one ran");
  await Deno.remove(`${dir}/fail-2`);
  assert.equal((await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--resume"])).code, 0);
  assert.deepEqual(await runs(dir), [0, 1, 2, 2, 3, 4]);
});

Deno.test("a torn last journal line (kill mid-write) is dropped on resume", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-1`, "");
  await runIn(["sweepy", `--dir=${dir}`, "--out", out]);
  await Deno.remove(`${dir}/fail-1`);
  const text = await Deno.readTextFile(`${out}/sweepy.cells.jsonl`);
  await Deno.writeTextFile(`${out}/sweepy.cells.jsonl`, text + text.slice(0, 20));
  assert.equal((await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--resume"])).code, 0);
  assert.deepEqual(await runs(dir), [0, 1, 1, 2, 3, 4]);
  assert.deepEqual((await result(out)).rows, (await reference()).rows);
});

Deno.test("--shard resumes from its own journal and merge still joins the shards", async () => {
  const ref = await reference();
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-2`, "");
  const one = ["sweepy", `--dir=${dir}`, "--out", out, "--shard=1/2"];
  assert.equal((await runIn(one)).code, 1);
  assert.ok(await exists(`${out}/sweepy.shard-1-of-2.cells.jsonl`));
  await Deno.remove(`${dir}/fail-2`);
  assert.equal((await runIn([...one, "--resume"])).code, 0);
  assert.equal((await runIn(["sweepy", `--dir=${dir}`, "--out", out, "--shard=2/2"])).code, 0);
  assert.deepEqual(await runs(dir), [0, 2, 2, 4, 1, 3], "shard 1 ran cell 0 once");
  const merged = capture();
  assert.equal(await main(["merge", out, "--out", `${dir}/merged`], sweepRegistry, merged), 0, merged.errs.join());
  assert.deepEqual((await result(`${dir}/merged`)).rows, ref.rows);
});

Deno.test("--jobs 2: a failing cell stops new cells, the running ones are journaled, --resume runs the rest", async () => {
  const ref = await reference();
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/fail-2`, "");
  const args = ["sweepy", `--dir=${dir}`, "--out", out, "--jobs", "2", "--backend=cpu", "--quiet"];
  const io = capture(), opts = { ...GIT, workerScript: FIXTURE };
  assert.equal(await main(args, sweepRegistry, io, opts), 1);
  assert.match(
    io.errs.at(-1)!,
    /^error: cell 2 \(2\) failed: in its worker \(exit 1\): NonFiniteError: loss is NaN at step 3 \(cell 2\) \[/,
  );
  assert.match(io.errs.at(-1)!, /finished cells? kept; resume with: deno task experiment sweepy .* --resume\]$/);
  const journaled = (await journalLines(out)).map((e) => e.index).sort();
  assert.ok(journaled.includes(0) && journaled.includes(1) && !journaled.includes(2), String(journaled));
  await Deno.remove(`${dir}/fail-2`);
  assert.equal(await main([...args, "--resume"], sweepRegistry, capture(), opts), 0);
  const counts = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await runs(dir)).filter((j) => j === i).length));
  assert.deepEqual(counts, [1, 1, 2, 1, 1], "only the failed cell ran twice");
  assert.deepEqual((await result(out)).rows, ref.rows);
});

Deno.test("--jobs 2: SIGINT lets the running worker cells finish, starts no new one, exits 130", async () => {
  const dir = await Deno.makeTempDir(), out = `${dir}/out`;
  await Deno.writeTextFile(`${dir}/block-2`, "");
  await Deno.writeTextFile(`${dir}/block-3`, "");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, "sweepy", `--dir=${dir}`, "--out", out, "--jobs", "2", "--backend=cpu", "--quiet"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  for (const i of [2, 3]) while (!await exists(`${dir}/started-${i}`)) await new Promise((r) => setTimeout(r, 20));
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200));
  await Deno.writeTextFile(`${dir}/release`, "");
  const { code, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 130, err);
  assert.match(err, /interrupted: 4 of 5 cells finished .*; resume with: deno task experiment sweepy .* --resume\n$/);
  assert.deepEqual((await journalLines(out)).map((e) => e.index).sort(), [0, 1, 2, 3]);
  assert.deepEqual((await runs(dir)).sort(), [0, 1, 2, 3], "cell 4 never started");
});
