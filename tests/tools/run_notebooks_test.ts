import assert from "node:assert/strict";
import { findNotebooks, KERNEL_NAME, privateJupyter } from "../../tools/run_notebooks.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = "tests/tools/fixtures";
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Runs a command from the repo root with HOME (and XDG_DATA_HOME) at `home`, a stand-in for the user's home; returns
 * exit code and output.
 */
async function exec(cmd: string, args: string[], home: string, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", HOME: home, XDG_DATA_HOME: `${home}/.local/share`, DENO_DIR, CI: "false", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Every file and directory under `dir` (recursively) with a SHA-256 of its bytes, for byte-for-byte comparison. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) {
        out.set(p, "(dir)");
        await walk(p);
      } else if (e.isFile) {
        const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(p)));
        out.set(p, [...hash].map((b) => b.toString(16).padStart(2, "0")).join(""));
      } else out.set(p, "(link)");
    }
  };
  await walk(dir);
  return out;
}

/** Deno's cache of the real user (the stand-in HOME would otherwise get a cache of its own). */
const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

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

Deno.test("privateJupyter() writes the memtrain-deno kernelspec into a fresh directory only", async () => {
  const jupyter = await privateJupyter({ NO_COLOR: "1", MEMTRAIN_QUICK: "1" });
  try {
    const spec = JSON.parse(await Deno.readTextFile(`${jupyter.dir}/kernels/${KERNEL_NAME}/kernel.json`));
    assert.deepEqual(spec.argv, [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"]);
    assert.deepEqual(spec.env, { NO_COLOR: "1", MEMTRAIN_QUICK: "1" });
    assert.deepEqual(jupyter.env, {
      JUPYTER_PATH: jupyter.dir,
      JUPYTER_DATA_DIR: jupyter.dir,
      JUPYTER_RUNTIME_DIR: `${jupyter.dir}/runtime`,
    });
  } finally {
    await jupyter.remove();
  }
  await assert.rejects(() => Deno.stat(jupyter.dir), Deno.errors.NotFound);
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
  const home = await Deno.makeTempDir();
  const outDir = await Deno.makeTempDir();
  // The user's own Deno kernelspec, as `deno jupyter --install` leaves it (no MEMTRAIN_QUICK).
  const userKernels = `${home}/.local/share/jupyter/kernels/deno`;
  await Deno.mkdir(userKernels, { recursive: true });
  await Deno.writeTextFile(
    `${userKernels}/kernel.json`,
    JSON.stringify({ argv: ["/usr/bin/deno", "jupyter", "--kernel", "--conn", "{connection_file}"], env: {} }),
  );
  const fixtures = await snapshot(`${ROOT}${FIXTURES}`);
  const run = (args: string[], env: Record<string, string> = {}) =>
    exec(Deno.execPath(), ["run", "-A", "tools/run_notebooks.ts", "--out-dir", outDir, ...args], home, env);
  try {
    await t.step(
      "--quick runs every fixture, reports each and fails overall; the user's Jupyter dir is untouched",
      async () => {
        const before = await snapshot(`${home}/.local/share`);
        const r = await run(["--quick", FIXTURES]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /running 2 notebook\(s\) in quick mode/);
        assert.match(r.stdout, /^PASS tests\/tools\/fixtures\/pass\.ipynb: 2 cells/m);
        assert.match(r.stdout, /^FAIL tests\/tools\/fixtures\/fail\.ipynb: 1 of 3 cells failed/m);
        assert.match(r.stdout, /^ {2}cell 2: RangeError: fixture failure$/m);
        assert.match(r.stdout, /^notebooks: 1 passed, 1 failed$/m);
        const after = await snapshot(`${home}/.local/share`);
        assert.deepEqual(after, before, "the user's kernelspecs and Jupyter data dir are byte-for-byte untouched");
        assert.deepEqual(await snapshot(`${ROOT}${FIXTURES}`), fixtures, "the notebooks themselves are unchanged");
        const [first, second] = await outputs(`${outDir}/pass.ipynb`);
        assert.match(text(first[0]), /^tfjs \d+\.\d+\.\d+/);
        assert.ok(second.some((o) => text(o).includes("quick=true")));
        const result = second.find((o) => o.output_type === "execute_result");
        assert.equal(result && text(result), "6", "execute_result without ANSI colours");
      },
    );

    await t.step("CI=true means quick mode; without either the kernel runs in full mode", async () => {
      let r = await run([`${FIXTURES}/pass.ipynb`], { CI: "true" });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok((await outputs(`${outDir}/pass.ipynb`))[1].some((o) => text(o).includes("quick=true")));
      r = await run([`${FIXTURES}/pass.ipynb`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok((await outputs(`${outDir}/pass.ipynb`))[1].some((o) => text(o).includes("quick=false")));
      assert.deepEqual(await snapshot(`${ROOT}${FIXTURES}`), fixtures);
    });

    await t.step(
      "--save writes a full run's outputs and the command into the notebook; a failed one is kept",
      async () => {
        await Deno.mkdir(`${ROOT}runs`, { recursive: true });
        const dir = await Deno.makeTempDir({ dir: `${ROOT}runs`, prefix: "save-test-" }); // inside the repo: its import map
        try {
          for (const f of ["pass", "fail"]) await Deno.copyFile(`${ROOT}${FIXTURES}/${f}.ipynb`, `${dir}/${f}.ipynb`);
          const failBefore = await Deno.readTextFile(`${dir}/fail.ipynb`);
          const r = await run(["--save", dir]);
          assert.equal(r.code, 1, r.stdout + r.stderr);
          const nb = JSON.parse(await Deno.readTextFile(`${dir}/pass.ipynb`));
          assert.ok(nb.metadata.memtrain, r.stdout + r.stderr);
          assert.equal(nb.metadata.memtrain.command, `deno task notebooks --save ${dir}/pass.ipynb`, r.stdout);
          assert.equal(nb.metadata.memtrain.quick, false);
          assert.equal(typeof nb.metadata.memtrain.seconds, "number");
          assert.match(nb.metadata.memtrain.git, /^([0-9a-f]{7,}(-dirty)?|unknown)$/);
          // The checkout at the start, as notebook_freshness.ts reads it: the full commit and the dirty flag.
          // (outside a git checkout, e.g. the mutants' copies, both say "unknown")
          const outside = nb.metadata.memtrain.git === "unknown";
          assert.match(nb.metadata.memtrain.commit, outside ? /^unknown$/ : /^[0-9a-f]{40}$/);
          assert.equal(nb.metadata.memtrain.dirty, nb.metadata.memtrain.git.endsWith("-dirty"));
          assert.ok((await outputs(`${dir}/pass.ipynb`))[1].some((o) => text(o).includes("quick=false")));
          assert.equal(await Deno.readTextFile(`${dir}/fail.ipynb`), failBefore, "a failing notebook is not saved");
          const refused = await run(["--save", "--quick", dir]);
          assert.equal(refused.code, 2);
          assert.match(refused.stderr, /--save .* cannot be combined with --quick/);
        } finally {
          await Deno.remove(dir, { recursive: true });
          await Deno.remove(`${ROOT}runs/notebooks/fail.ipynb`).catch(() => {});
        }
      },
    );

    await t.step("runnb.py runs all cells, records the error and exits 1", async () => {
      const jupyter = await privateJupyter({ NO_COLOR: "1", MEMTRAIN_QUICK: "0" });
      try {
        const out = `${outDir}/fail-direct.ipynb`;
        const args = ["tools/runnb.py", `${FIXTURES}/fail.ipynb`, "--kernel", KERNEL_NAME, "--out", out];
        const r = await exec("/usr/bin/python3", args, home, jupyter.env);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n").slice(1), ["  cell 2: RangeError: fixture failure"]);
        const cells = await outputs(out);
        assert.equal(cells[1][0].output_type, "error");
        assert.equal(cells[1][0].ename, "RangeError");
        assert.match(text(cells[2][0]), /after the error/);
        const unknown = await exec("/usr/bin/python3", [...args.slice(0, 2), "--kernel", "no-such-kernel"], home, {
          ...jupyter.env,
        });
        assert.equal(unknown.code, 2);
        assert.match(unknown.stdout, /^ERROR .*cannot start kernel 'no-such-kernel'/);
      } finally {
        await jupyter.remove();
      }
    });
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(outDir, { recursive: true });
  }
});
