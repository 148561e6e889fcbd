/**
 * `deno task mutants`: runs the mutation catalogue (`tools/mutants_catalogue.ts`). Each mutant is a small, realistic
 * bug written as exact text edits; the runner copies the repository to a temp dir (node_modules symlinked, the deno
 * cache shared), checks that the catalogue's tests pass unmutated there, then applies one mutant at a time, runs the
 * mutant's test files and reports it caught (some test failed), survived (every test passed), stale (a find text no
 * longer matches exactly once) or error (the run did not reach a test summary, e.g. the mutant broke module loading).
 * The last line is `mutants: N caught, M survived, K stale, E errors (T s)`; the exit code is 1 unless every mutant
 * was caught.
 *
 * Usage: `deno task mutants [--only a,b] [--list] [--check] [--keep] [--jobs N]`
 * - `--only`: run only the named mutants;
 * - `--jobs N`: run N mutants at a time, each worker in its own copy (default: 2, or 1 on a one-core machine);
 * - `--list`: print the catalogue and exit;
 * - `--check`: also type-check each mutated file (`deno check`), to confirm the mutants type-check (slow);
 * - `--keep`: keep the temp copy and print its path.
 *
 * Tests run with `--no-check`: the mutants type-check by design (`--check` verifies it), and type-checking each run
 * would cost more than the tests.
 * @module
 */
import { type Mutant, MUTANTS } from "./mutants_catalogue.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** One mutant's outcome. */
export interface MutantResult {
  name: string;
  status: "caught" | "survived" | "stale" | "error";
  seconds: number;
  detail: string;
}

/** The edits of a mutant (one `file`/`find`/`replace`, or several). */
export function editsOf(m: Mutant): { file: string; find: string; replace: string }[] {
  return m.edits ?? [{ file: m.file!, find: m.find!, replace: m.replace! }];
}

/** Number of non-overlapping occurrences of `needle` in `hay`. */
export function occurrences(hay: string, needle: string): number {
  if (needle === "") return Infinity;
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** Why `m` is stale against the sources read by `read` (each find must match exactly once), or undefined. */
export function staleReason(m: Mutant, read: (file: string) => string | undefined): string | undefined {
  for (const e of editsOf(m)) {
    const text = read(e.file);
    if (text === undefined) return `${e.file}: no such file`;
    const n = occurrences(text, e.find);
    if (n !== 1) return `${e.file}: the find text matches ${n} times (must be exactly once): ${JSON.stringify(e.find)}`;
    if (e.find === e.replace) return `${e.file}: the replacement equals the find text`;
  }
  for (const t of m.tests) if (read(t) === undefined) return `test file ${t} does not exist`;
  return undefined;
}

/** `N passed`/`M failed` from the last `deno test` summary line, or undefined when there is none. */
export function testSummary(log: string): { passed: number; failed: number } | undefined {
  // deno-lint-ignore no-control-regex -- strips ANSI colour codes (ESC [ ... m)
  const lines = log.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const line = lines.at(-1);
  if (!line) return undefined;
  return { passed: Number(/(\d+) passed/.exec(line)![1]), failed: Number(/(\d+) failed/.exec(line)?.[1] ?? 0) };
}

async function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; log: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, log: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** The repository's files (tracked and untracked, not ignored), relative to ROOT. */
async function repoFiles(): Promise<string[]> {
  const { code, log } = await run("git", ["ls-files", "-co", "--exclude-standard", "-z"], ROOT);
  if (code !== 0) throw new Error(`git ls-files failed: ${log}`);
  return log.split("\0").filter((f) => f !== "" && !f.startsWith("node_modules/"));
}

async function copyRepo(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "memtrain-mutants-" });
  for (const f of await repoFiles()) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(`${ROOT}/${f}`);
    } catch {
      continue; // deleted in the work tree
    }
    if (!info.isFile) continue;
    const dest = `${dir}/${f}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${ROOT}/${f}`, dest);
  }
  await Deno.symlink(`${ROOT}/node_modules`, `${dir}/node_modules`);
  return dir;
}

function testArgs(m: { tests: string[]; filter?: string }): string[] {
  return ["test", "-A", "--no-check", ...(m.filter ? ["--filter", m.filter] : []), ...m.tests];
}

function readFrom(dir: string): (file: string) => string | undefined {
  return (file) => {
    try {
      return Deno.readTextFileSync(`${dir}/${file}`);
    } catch {
      return undefined;
    }
  };
}

async function runMutant(m: Mutant, dir: string, check: boolean): Promise<MutantResult> {
  const t0 = performance.now();
  const seconds = () => Math.round((performance.now() - t0) / 100) / 10;
  const stale = staleReason(m, readFrom(dir));
  if (stale) return { name: m.name, status: "stale", seconds: 0, detail: stale };
  const originals = new Map<string, string>();
  try {
    for (const e of editsOf(m)) {
      const path = `${dir}/${e.file}`;
      const text = originals.get(e.file) ?? Deno.readTextFileSync(path);
      if (!originals.has(e.file)) originals.set(e.file, text);
      const current = Deno.readTextFileSync(path);
      Deno.writeTextFileSync(path, current.replace(e.find, () => e.replace));
    }
    if (check) {
      const files = [...originals.keys()];
      const r = await run(Deno.execPath(), ["check", ...files], dir);
      if (r.code !== 0) {
        return { name: m.name, status: "error", seconds: seconds(), detail: `does not type-check:\n${r.log}` };
      }
    }
    const { code, log } = await run(Deno.execPath(), testArgs(m), dir);
    const summary = testSummary(log);
    if (!summary) {
      return { name: m.name, status: "error", seconds: seconds(), detail: `no test summary (exit ${code}):\n${log}` };
    }
    if (summary.failed > 0) {
      const failed = [...log.matchAll(/^(.+) => \.\/\S+$/gm)].map((x) => x[1]);
      return { name: m.name, status: "caught", seconds: seconds(), detail: `${summary.failed} failed: ${failed[0]}` };
    }
    if (code !== 0) return { name: m.name, status: "caught", seconds: seconds(), detail: `exit ${code}` };
    return { name: m.name, status: "survived", seconds: seconds(), detail: `${summary.passed} passed` };
  } finally {
    for (const [file, text] of originals) Deno.writeTextFileSync(`${dir}/${file}`, text);
  }
}

interface MutantsArgs {
  only?: Set<string>;
  list: boolean;
  check: boolean;
  keep: boolean;
  jobs: number;
}

function parseArgs(args: string[]): MutantsArgs {
  const out: MutantsArgs = {
    list: false,
    check: false,
    keep: false,
    jobs: Math.max(1, Math.min(2, navigator.hardwareConcurrency ?? 1)),
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--list") out.list = true;
    else if (a === "--check") out.check = true;
    else if (a === "--keep") out.keep = true;
    else if (a === "--jobs" || a.startsWith("--jobs=")) {
      const v = a === "--jobs" ? args[++i] : a.slice("--jobs=".length);
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) {
        throw new RangeError(`mutants: '--jobs' must be a positive integer: current value is ${JSON.stringify(v)}`);
      }
      out.jobs = n;
    } else if (a === "--only" || a.startsWith("--only=")) {
      const v = a === "--only" ? args[++i] : a.slice("--only=".length);
      // Repeated --only options add up (`--only a --only b` = `--only a,b`).
      out.only = new Set([...(out.only ?? []), ...(v ?? "").split(",").filter(Boolean)]);
    } else {throw new RangeError(
        `mutants: unknown argument ${JSON.stringify(a)} (use --only, --list, --check, --keep, --jobs)`,
      );}
  }
  return out;
}

/** Runs the catalogue; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  const names = new Set<string>();
  for (const m of MUTANTS) {
    if (names.has(m.name)) throw new Error(`mutants: duplicate mutant name "${m.name}"`);
    names.add(m.name);
  }
  if (opts.only) {
    const unknown = [...opts.only].filter((n) => !names.has(n));
    if (unknown.length) throw new RangeError(`mutants: unknown mutant(s) ${unknown.join(", ")}`);
  }
  const chosen = MUTANTS.filter((m) => !opts.only || opts.only.has(m.name));
  if (opts.list) {
    for (const m of chosen) console.log(`${m.name.padEnd(28)} ${m.area.padEnd(11)} ${m.description}`);
    return 0;
  }
  const t0 = performance.now();
  const jobs = Math.min(opts.jobs, Math.max(1, chosen.length));
  // One copy per worker: a mutant edits files in its worker's copy and restores them before the next one.
  const dirs = await Promise.all(Array.from({ length: jobs }, () => copyRepo()));
  console.log(`mutants: ${chosen.length} in ${jobs} cop${jobs === 1 ? "y" : "ies"} at ${dirs.join(", ")}`);
  const results: MutantResult[] = [];
  try {
    // The tests must pass unmutated in the copy, or a "caught" would mean nothing.
    const files = [...new Set(chosen.flatMap((m) => m.tests))].sort();
    const base = await run(Deno.execPath(), testArgs({ tests: files }), dirs[0]);
    const summary = testSummary(base.log);
    if (base.code !== 0 || !summary || summary.failed > 0) {
      console.log(base.log);
      console.log("mutants: the catalogue's tests fail without any mutant; fix them first");
      return 1;
    }
    console.log(`baseline: ${summary.passed} tests pass unmutated (${files.length} files)`);
    let next = 0;
    const worker = async (dir: string) => {
      while (next < chosen.length) {
        const m = chosen[next++];
        const r = await runMutant(m, dir, opts.check);
        results.push(r);
        const line = `${r.status.toUpperCase().padEnd(8)} ${m.name.padEnd(28)} ${String(r.seconds).padStart(5)}s  `;
        console.log(line + (r.status === "caught" ? r.detail : `${m.description}\n    ${r.detail}`));
      }
    };
    await Promise.all(dirs.map(worker));
  } finally {
    if (opts.keep) console.log(`mutants: kept ${dirs.join(", ")}`);
    else for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
  const count = (s: MutantResult["status"]) => results.filter((r) => r.status === s).length;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `mutants: ${count("caught")} caught, ${count("survived")} survived, ${count("stale")} stale, ${
      count("error")
    } errors (${secs} s)`,
  );
  return results.every((r) => r.status === "caught") ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
