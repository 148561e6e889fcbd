import assert from "node:assert/strict";
import { isUnderResults, main, scratchDir } from "../../experiments/run.ts";
import { capture, registry } from "./_fixtures.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const GIT = { gitVersion: () => Promise.resolve("abc1234") };

/** Path → SHA-256 of every file under `dir`: equal snapshots mean nothing was written, added or removed. */
async function treeHash(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else {
        const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(p)));
        out.set(p, [...h].map((b) => b.toString(16).padStart(2, "0")).join(""));
      }
    }
  };
  await walk(dir);
  return out;
}

const wrotePath = (lines: string[]) => lines.find((l) => l.startsWith("wrote "))?.slice("wrote ".length);

Deno.test("a run without --out writes a fresh runs/ folder and leaves experiments/ unchanged", async () => {
  const before = await treeHash(`${ROOT}experiments`);
  const cwd = Deno.cwd();
  Deno.chdir(ROOT);
  const paths: string[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const io = capture();
      assert.equal(await main(["echo", "--quick", "--backend=cpu"], registry, io, GIT), 0, io.stderr.join("\n"));
      const path = wrotePath(io.stdout);
      assert.ok(path, io.stdout.join("\n"));
      paths.push(path);
      assert.match(path, /^runs\/echo-\d{8}T\d{6}Z-quick(-\d+)?\/echo\.json$/);
      assert.equal(JSON.parse(await Deno.readTextFile(path)).env.quick, true);
    }
    assert.notEqual(paths[0], paths[1], "a second run does not overwrite the first");
  } finally {
    for (const p of paths) await Deno.remove(p.replace(/\/echo\.json$/, ""), { recursive: true }).catch(() => {});
    Deno.chdir(cwd);
  }
  assert.deepEqual(await treeHash(`${ROOT}experiments`), before);
});

Deno.test("deno task experiment quickstart --quick (a real run) leaves experiments/ unchanged", async () => {
  const before = await treeHash(`${ROOT}experiments`);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "experiments/run.ts", "quickstart", "--quick", "--steps=3", "--quiet"],
    cwd: ROOT,
    env: { NO_COLOR: "1", MEMTRAIN_BACKEND: "wasm" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const path = wrotePath(out.split("\n"));
  assert.ok(path?.startsWith("runs/quickstart-"), out);
  await Deno.remove(`${ROOT}${path!.replace(/\/quickstart\.json$/, "")}`, { recursive: true });
  assert.deepEqual(await treeHash(`${ROOT}experiments`), before);
});

Deno.test("a quick run is refused under experiments/results/ (exit 2); a failed run leaves no scratch folder", async () => {
  const cwd = Deno.cwd();
  Deno.chdir(ROOT);
  try {
    for (const out of ["experiments/results", "experiments/results/x", `${ROOT}experiments/results/quickstart`]) {
      const io = capture();
      assert.equal(await main(["echo", "--quick", "--out", out, "--backend=cpu"], registry, io, GIT), 2);
      assert.match(io.stderr[0], /^error: a quick run is a smoke test and is not written under experiments\/results\//);
    }
    const before = await Array.fromAsync(Deno.readDir("runs")).catch(() => []);
    const io = capture();
    assert.equal(await main(["broken", "--backend=cpu"], registry, io, GIT), 1);
    const after = await Array.fromAsync(Deno.readDir("runs")).catch(() => []);
    assert.deepEqual(after.map((e) => e.name).sort(), before.map((e) => e.name).sort());
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("isUnderResults() and scratchDir()", async () => {
  assert.equal(isUnderResults("experiments/results"), true);
  assert.equal(isUnderResults("./experiments/results/mesa-gpt/"), true);
  assert.equal(isUnderResults(`${Deno.cwd()}/experiments/results/a`), true);
  assert.equal(isUnderResults("experiments/results-old"), false);
  assert.equal(isUnderResults("/tmp/r"), false);
  const root = await Deno.makeTempDir();
  try {
    const date = new Date("2026-12-01T10:03:21.123Z");
    assert.equal(await scratchDir("memory", date, false, root), `${root}/memory-20261201T100321Z`);
    assert.equal(await scratchDir("memory", date, false, root), `${root}/memory-20261201T100321Z-2`);
    assert.equal(await scratchDir("memory", date, true, root), `${root}/memory-20261201T100321Z-quick`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
