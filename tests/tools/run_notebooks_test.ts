import assert from "node:assert/strict";
import { findNotebooks, patchKernelSpec } from "../../tools/run_notebooks.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = "tests/tools/fixtures";
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs a command from the repo root with a private Jupyter data dir; returns exit code and combined output. */
async function exec(cmd: string, args: string[], dataHome: string, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", XDG_DATA_HOME: dataHome, CI: "false", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

interface Output {
  output_type: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
}

async function outputs(path: string): Promise<Output[][]> {
  const nb = JSON.parse(await Deno.readTextFile(path));
  return nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map((c: { outputs: Output[] }) =>
    c.outputs
  );
}

const text = (o: Output) => [o.text ?? "", ...Object.values(o.data ?? {})].flat().join("");

Deno.test("findNotebooks() expands directories and skips executed copies", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const f of ["b.ipynb", "a.ipynb", "a.out.ipynb", "notes.txt"]) await Deno.writeTextFile(`${dir}/${f}`, "{}");
    assert.deepEqual(await findNotebooks([dir]), [`${dir}/a.ipynb`, `${dir}/b.ipynb`]);
    assert.deepEqual(await findNotebooks([`${dir}/b.ipynb`]), [`${dir}/b.ipynb`]);
    await assert.rejects(() => findNotebooks([`${dir}/missing`]), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("patchKernelSpec() merges env and keeps the other fields", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/kernel.json`;
    await Deno.writeTextFile(path, JSON.stringify({ argv: ["deno"], language: "typescript", env: { A: "1" } }));
    await patchKernelSpec(path, { NO_COLOR: "1", MEMTRAIN_QUICK: "0" });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      argv: ["deno"],
      language: "typescript",
      env: { A: "1", NO_COLOR: "1", MEMTRAIN_QUICK: "0" },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run_notebooks.ts: no notebooks is a pass; bad options exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let r = await exec(Deno.execPath(), ["run", "-A", "tools/run_notebooks.ts", dir], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `no notebooks found in ${dir}`);
    r = await exec(Deno.execPath(), ["run", "-A", "tools/run_notebooks.ts", "--fast"], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: unknown option "--fast"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notebooks run on the Deno kernel", async (t) => {
  const dataHome = await Deno.makeTempDir();
  const outDir = await Deno.makeTempDir();
  try {
    await t.step("run_notebooks.ts runs every fixture, reports each and fails overall", async () => {
      const r = await exec(Deno.execPath(), ["run", "-A", "tools/run_notebooks.ts", "--quick", FIXTURES], dataHome);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /running 2 notebook\(s\) in quick mode/);
      assert.match(r.stdout, /^PASS tests\/tools\/fixtures\/pass\.ipynb: 2 cells/m);
      assert.match(r.stdout, /^FAIL tests\/tools\/fixtures\/fail\.ipynb: 1 of 3 cells failed/m);
      assert.match(r.stdout, /^ {2}cell 2: RangeError: fixture failure$/m);
      assert.match(r.stdout, /^notebooks: 1 passed, 1 failed$/m);
      const spec = JSON.parse(await Deno.readTextFile(`${dataHome}/jupyter/kernels/deno/kernel.json`));
      assert.deepEqual(spec.env, { NO_COLOR: "1", MEMTRAIN_QUICK: "1" });
      const [first, second] = await outputs(`${ROOT}${FIXTURES}/pass.out.ipynb`);
      assert.match(text(first[0]), /^tfjs \d+\.\d+\.\d+/);
      assert.ok(second.some((o) => text(o).includes("quick=true")));
      const result = second.find((o) => o.output_type === "execute_result");
      assert.equal(result && text(result), "6", "execute_result without ANSI colours");
    });

    await t.step("runnb.py passes a notebook and writes outputs (not quick)", async () => {
      const install = await exec(Deno.execPath(), ["eval", "--ext=ts", PATCH_NOT_QUICK], dataHome);
      assert.equal(install.code, 0, install.stderr);
      const out = `${outDir}/pass.ipynb`;
      const r = await exec("/usr/bin/python3", ["tools/runnb.py", `${FIXTURES}/pass.ipynb`, "--out", out], dataHome);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^PASS tests\/tools\/fixtures\/pass\.ipynb: 2 cells, \d+ outputs/);
      const cells = await outputs(out);
      assert.ok(cells[1].some((o) => text(o).includes("quick=false")));
    });

    await t.step("runnb.py runs all cells, records the error and exits 1", async () => {
      const out = `${outDir}/fail.ipynb`;
      const r = await exec("/usr/bin/python3", ["tools/runnb.py", `${FIXTURES}/fail.ipynb`, "--out", out], dataHome);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").slice(1), ["  cell 2: RangeError: fixture failure"]);
      const cells = await outputs(out);
      assert.equal(cells[1][0].output_type, "error");
      assert.equal(cells[1][0].ename, "RangeError");
      assert.match(text(cells[2][0]), /after the error/);
    });

    await t.step("runnb.py exits 2 for an unknown kernel", async () => {
      const out = `${outDir}/k.ipynb`;
      const args = ["tools/runnb.py", `${FIXTURES}/pass.ipynb`, "--kernel", "no-such-kernel", "--out", out];
      const r = await exec("/usr/bin/python3", args, dataHome);
      assert.equal(r.code, 2);
      assert.match(r.stdout, /^ERROR .*cannot start kernel 'no-such-kernel'/);
    });
  } finally {
    await Deno.remove(dataHome, { recursive: true });
    await Deno.remove(outDir, { recursive: true });
    // Executed copies are gitignored, but `deno fmt --check` / `deno lint` would still see them.
    for (const name of ["pass", "fail"]) await Deno.remove(`${ROOT}${FIXTURES}/${name}.out.ipynb`).catch(() => {});
  }
});

/** Re-installs the kernelspec in the private data dir with MEMTRAIN_QUICK=0. */
const PATCH_NOT_QUICK = `import { ensureKernelSpec } from "./tools/run_notebooks.ts"; await ensureKernelSpec(false);`;
