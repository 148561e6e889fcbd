/**
 * `deno task notebooks [--quick | --save] [--out-dir DIR] [PATH ...]`: executes notebooks on the Deno Jupyter kernel
 * with `tools/runnb.py`.
 *
 * PATH may be notebooks or directories (their `*.ipynb`); the default is `notebooks/`. The kernel runs from a private
 * kernelspec (`memtrain-deno`, for this Deno binary, with `env: { NO_COLOR: "1", MEMTRAIN_QUICK: "1" | "0" }`) in a
 * temporary Jupyter directory (`JUPYTER_PATH`, `JUPYTER_DATA_DIR` and `JUPYTER_RUNTIME_DIR` point there, and it is
 * removed afterwards), so the user's kernelspecs (`~/.local/share/jupyter`) are never read or written. Quick mode is
 * on with `--quick` or `CI=true`; notebooks read `MEMTRAIN_QUICK` to shrink their runs.
 *
 * Without `--save`, executed copies go to `--out-dir` (default `runs/notebooks/`, gitignored) and the notebooks
 * themselves are left byte-for-byte unchanged. `--save` (a full run; refused with `--quick` or `CI=true`) writes the
 * outputs back into each notebook that passed, with `metadata.memtrain = { command, git, commit, dirty, date, seconds,
 * quick }` (the checkout at the start): the committed notebooks carry the outputs of a full run and the command that
 * produced them, and `deno task report --check` tells when they are no longer current (`notebook_freshness.ts`).
 *
 * Exits 1 when any notebook fails, 2 for usage and setup errors. Set `MEMTRAIN_PYTHON` to use a Python other than
 * `/usr/bin/python3`.
 * @module
 */
import { gitState } from "../experiments/_lib/provenance.ts";

/** Default notebook directory. */
export const DEFAULT_DIR = "notebooks";

/** Default directory of executed copies (not `--save`). */
export const DEFAULT_OUT_DIR = "runs/notebooks";

/** Name of the private kernelspec. */
export const KERNEL_NAME = "memtrain-deno";

const RUNNER = new URL("./runnb.py", import.meta.url).pathname;

const USAGE = "Usage: deno task notebooks [--quick | --save] [--out-dir DIR] [PATH ...]";

/**
 * The notebooks named by `paths`: files as given, directories expanded to their `*.ipynb` (sorted), with executed
 * copies (`*.out.ipynb`, from older runners) left out.
 *
 * @example Usage
 * ```ts ignore
 * const notebooks = await findNotebooks(["notebooks"]); // ["notebooks/00_quickstart.ipynb", ...]
 * ```
 */
export async function findNotebooks(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await Deno.stat(path)).isDirectory;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && path === DEFAULT_DIR && paths.length === 1) return [];
      throw e;
    }
    if (!isDir) {
      found.push(path);
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && entry.name.endsWith(".ipynb") && !entry.name.endsWith(".out.ipynb")) names.push(entry.name);
    }
    found.push(...names.sort().map((n) => `${path.replace(/\/+$/, "")}/${n}`));
  }
  return found;
}

/** The private Jupyter directory of one run: the environment that points Jupyter at it, and its removal. */
export interface PrivateJupyter {
  /** The directory (a fresh temporary one). */
  dir: string;
  /** `JUPYTER_PATH`, `JUPYTER_DATA_DIR` and `JUPYTER_RUNTIME_DIR` for the runner's process. */
  env: Record<string, string>;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/**
 * Creates a temporary Jupyter directory holding the `memtrain-deno` kernelspec for the running Deno binary, with
 * `env` in the spec (the kernel's environment). Nothing outside the new directory is touched.
 *
 * @example Usage
 * ```ts ignore
 * const jupyter = await privateJupyter({ NO_COLOR: "1", MEMTRAIN_QUICK: "1" });
 * // run jupyter_client with { ...jupyter.env }, kernel name KERNEL_NAME
 * await jupyter.remove();
 * ```
 */
export async function privateJupyter(env: Record<string, string>): Promise<PrivateJupyter> {
  const dir = await Deno.makeTempDir({ prefix: "memtrain-jupyter-" });
  const kernelDir = `${dir}/kernels/${KERNEL_NAME}`;
  await Deno.mkdir(kernelDir, { recursive: true });
  await Deno.mkdir(`${dir}/runtime`);
  const spec = {
    argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
    display_name: "Deno (memtrain runner)",
    language: "typescript",
    env,
  };
  await Deno.writeTextFile(`${kernelDir}/kernel.json`, JSON.stringify(spec, null, 2) + "\n");
  return {
    dir,
    env: { JUPYTER_PATH: dir, JUPYTER_DATA_DIR: dir, JUPYTER_RUNTIME_DIR: `${dir}/runtime` },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Runs one notebook with runnb.py (its output goes straight to ours); resolves to the exit code. */
async function runNotebook(python: string, args: string[], env: Record<string, string>): Promise<number> {
  const { code } = await new Deno.Command(python, {
    args: [RUNNER, ...args],
    env,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  return code;
}

interface NotebookArgs {
  quick: boolean;
  save: boolean;
  outDir: string;
  paths: string[];
}

function parseArgs(args: string[]): NotebookArgs | string {
  const out: NotebookArgs = { quick: false, save: false, outDir: DEFAULT_OUT_DIR, paths: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--quick") out.quick = true;
    else if (a === "--save") out.save = true;
    else if (a === "--out-dir" || a.startsWith("--out-dir=")) {
      const v = a === "--out-dir" ? args[++i] : a.slice("--out-dir=".length);
      if (!v) return "option --out-dir needs a value, e.g. --out-dir=/tmp/nb";
      out.outDir = v;
    } else if (a.startsWith("-")) return `unknown option "${a}". ${USAGE}`;
    else out.paths.push(a);
  }
  if (Deno.env.get("CI") === "true") out.quick = true;
  if (out.save && out.quick) {
    return "--save writes a full run's outputs into the notebooks; it cannot be combined with --quick (or CI=true)";
  }
  return out;
}

/**
 * Runs the notebooks named on the command line (default `notebooks/`) and returns the exit code: 0 when all pass
 * (or there are none), 1 when any fails, 2 for usage and setup errors.
 */
export async function main(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    console.error(`error: ${parsed}`);
    return 2;
  }
  const { quick, save, outDir, paths } = parsed;
  let notebooks: string[];
  try {
    notebooks = await findNotebooks(paths.length ? paths : [DEFAULT_DIR]);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    return 2;
  }
  if (notebooks.length === 0) {
    console.log(`no notebooks found in ${paths.length ? paths.join(", ") : `${DEFAULT_DIR}/`}`);
    return 0;
  }
  const python = Deno.env.get("MEMTRAIN_PYTHON") || "/usr/bin/python3";
  try {
    await Deno.stat(python);
  } catch (e) {
    const hint = e instanceof Deno.errors.NotFound ? ` (${python} is missing: apt-get install python3-nbclient)` : "";
    console.error(`error: ${e instanceof Error ? e.message : e}${hint}`);
    return 2;
  }
  const jupyter = await privateJupyter({ NO_COLOR: "1", MEMTRAIN_QUICK: quick ? "1" : "0" });
  try {
    console.log(
      `running ${notebooks.length} notebook(s)${quick ? " in quick mode" : save ? " (full run, saving)" : ""}`,
    );
    if (!save) await Deno.mkdir(outDir, { recursive: true });
    // The checkout at the start, before the first save changes a notebook: what tools/notebook_freshness.ts checks.
    const { commit, dirty } = save ? await gitState() : { commit: "unknown", dirty: false }; // "unknown" outside git
    const git = commit === "unknown" ? commit : `${commit.slice(0, 7)}${dirty ? "-dirty" : ""}`;
    if (save && dirty) {
      console.log("warning: the tree is dirty; `deno task report --check` will call these outputs stale");
    }
    const failed: string[] = [];
    for (const nb of notebooks) {
      const base = nb.split("/").pop()!;
      const runArgs = [nb, "--kernel", KERNEL_NAME];
      if (save) {
        const command = `deno task notebooks --save ${nb}`;
        runArgs.push(
          "--save",
          "--stamp",
          JSON.stringify({ command, git, commit, dirty, date: new Date().toISOString(), quick }),
        );
      } else {
        runArgs.push("--out", `${outDir.replace(/\/+$/, "")}/${base}`);
      }
      const code = await runNotebook(python, runArgs, { ...jupyter.env, NO_COLOR: "1" });
      if (code !== 0) failed.push(nb);
      if (code !== 0 && code !== 1) console.log(`ERROR ${nb}: runner exited with code ${code}`);
    }
    console.log(`notebooks: ${notebooks.length - failed.length} passed, ${failed.length} failed`);
    return failed.length ? 1 : 0;
  } finally {
    await jupyter.remove();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
