/**
 * `deno task notebooks [--quick] [PATH ...]`: executes notebooks on the Deno Jupyter kernel with `tools/runnb.py`.
 *
 * PATH may be notebooks or directories (their `*.ipynb`, without `*.out.ipynb`); the default is `notebooks/`. Before
 * running, the `deno` kernelspec is (re)installed for this Deno binary and patched with
 * `env: { NO_COLOR: "1", MEMTRAIN_QUICK: "1" | "0" }`; quick mode is on with `--quick` or `CI=true`, and notebooks
 * read `MEMTRAIN_QUICK` to shrink their runs. Executed copies are written as `<name>.out.ipynb` (gitignored).
 * Exits 1 when any notebook fails. Set `MEMTRAIN_PYTHON` to use a Python other than `/usr/bin/python3`.
 * @module
 */

/** Default notebook directory. */
export const DEFAULT_DIR = "notebooks";

const RUNNER = new URL("./runnb.py", import.meta.url).pathname;

/**
 * The notebooks named by `paths`: files as given, directories expanded to their `*.ipynb` (sorted), with executed
 * copies (`*.out.ipynb`) left out.
 *
 * @example Usage
 * ```ts ignore
 * const notebooks = await findNotebooks(["notebooks"]); // ["notebooks/00_tour.ipynb", ...]
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

/**
 * Adds `env` to a kernel.json (keeping its other fields and env entries), writing through a temporary file so a
 * concurrent reader never sees half a file.
 */
export async function patchKernelSpec(kernelJson: string, env: Record<string, string>): Promise<void> {
  const spec = JSON.parse(await Deno.readTextFile(kernelJson));
  spec.env = { ...spec.env, ...env };
  const tmp = `${kernelJson}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(spec, null, 2) + "\n");
  await Deno.rename(tmp, kernelJson);
}

/**
 * Installs the `deno` kernelspec for the running Deno binary (`deno jupyter --install --force`) and patches its env;
 * returns the kernel.json path.
 *
 * @throws {Error} when the install command fails.
 */
export async function ensureKernelSpec(quick: boolean): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["jupyter", "--install", "--force"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (!success) throw new Error(`Cannot install the Deno kernelspec: ${text.trim()}`);
  const dataHome = Deno.env.get("XDG_DATA_HOME") || `${Deno.env.get("HOME")}/.local/share`;
  const dir = text.match(/installed successfully at (.+?)\.?\s*$/m)?.[1] ?? `${dataHome}/jupyter/kernels/deno`;
  const kernelJson = `${dir}/kernel.json`;
  await patchKernelSpec(kernelJson, { NO_COLOR: "1", MEMTRAIN_QUICK: quick ? "1" : "0" });
  return kernelJson;
}

/** Runs one notebook with runnb.py (its output goes straight to ours); resolves to the exit code. */
async function runNotebook(python: string, notebook: string): Promise<number> {
  const { code } = await new Deno.Command(python, { args: [RUNNER, notebook], stdout: "inherit", stderr: "inherit" })
    .output();
  return code;
}

/**
 * Runs the notebooks named on the command line (default `notebooks/`) and returns the exit code: 0 when all pass
 * (or there are none), 1 when any fails, 2 for setup errors.
 */
export async function main(args: string[]): Promise<number> {
  const quick = args.includes("--quick") || Deno.env.get("CI") === "true";
  const unknown = args.filter((a) => a.startsWith("-") && a !== "--quick");
  if (unknown.length) {
    console.error(`error: unknown option "${unknown[0]}". Usage: deno task notebooks [--quick] [PATH ...]`);
    return 2;
  }
  const paths = args.filter((a) => !a.startsWith("-"));
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
    await ensureKernelSpec(quick);
  } catch (e) {
    const hint = e instanceof Deno.errors.NotFound ? ` (${python} is missing: apt-get install python3-nbclient)` : "";
    console.error(`error: ${e instanceof Error ? e.message : e}${hint}`);
    return 2;
  }
  console.log(`running ${notebooks.length} notebook(s)${quick ? " in quick mode" : ""}`);
  const failed: string[] = [];
  for (const nb of notebooks) {
    const code = await runNotebook(python, nb);
    if (code !== 0) failed.push(nb);
    if (code !== 0 && code !== 1) console.log(`ERROR ${nb}: runner exited with code ${code}`);
  }
  console.log(`notebooks: ${notebooks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
