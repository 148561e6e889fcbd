/**
 * Provenance of a run: what produced a result, recorded when the run starts and checked when it ends (git revision,
 * dirty flag and a hash of the diff, the exact command line, versions, CPU, load average, start and end time).
 *
 * A result whose checkout changed while it ran (another commit, or edits to a clean tree) says so in
 * `revisionChanged`, so a figure is never attributed to code that did not produce it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { blasPatchInfo } from "../../lib/backend/mod.ts";
import { runGit } from "./git.ts";

/** The state of the git checkout at one moment. */
export interface GitState {
  /** Full commit hash of HEAD, or "unknown" outside a git checkout. */
  commit: string;
  /** Whether `git status --porcelain` reported changes (untracked files included). */
  dirty: boolean;
  /** SHA-256 (hex) of `git diff HEAD` plus the names and contents of untracked files, when dirty. */
  diffSha256?: string;
}

/** Where, when and how a run happened, recorded at its start and completed at its end. */
export interface Provenance {
  /** ISO 8601 start time (taken before anything else runs). */
  start: string;
  /** ISO 8601 end time (set by {@linkcode finishProvenance}). */
  end?: string;
  /** The checkout when the run started. */
  git: GitState;
  /** The checkout when the run ended, when it differs from `git` (set by {@linkcode finishProvenance}). */
  gitAtEnd?: GitState;
  /** True when the checkout changed during the run: the result cannot be attributed to `git` alone. */
  revisionChanged?: boolean;
  /** Set when a dirty tree was allowed to publish under experiments/results/ (`--allowDirty`). */
  allowDirty?: boolean;
  /** The exact command line: the program and its arguments as the process got them. */
  command: string[];
  /**
   * The `MEMTRAIN_*` environment variables set at the start (backend, threads, heap, kernel switches: the settings a
   * command line does not show), by name; empty when none is set.
   */
  settings: Record<string, string>;
  /** Versions of what ran the code. */
  versions: { deno: string; v8: string; typescript: string; tfjs: string; openblas?: string };
  /** CPU model (from /proc/cpuinfo) and logical cores. */
  cpu: { model: string; cores: number };
  /** 1/5/15-minute load averages at the start and (after {@linkcode finishProvenance}) at the end. */
  load: { before: number[]; after?: number[] };
}

/** The `MEMTRAIN_*` environment variables, sorted by name. */
function memtrainSettings(): Record<string, string> {
  return Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("MEMTRAIN_")).sort());
}

async function git(args: string[], cwd?: string): Promise<string | undefined> {
  const { ok, out } = await runGit(args, cwd);
  return ok ? out : undefined;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The git state of the checkout at `cwd` (default: the current directory): HEAD, the dirty flag and, when dirty, a
 * hash of the diff against HEAD and of the untracked files, so two dirty runs can be told apart. Paths in `exclude`
 * (relative to `cwd`, e.g. the run's output folder) are left out.
 *
 * @example Usage
 * ```ts ignore
 * import { gitState } from "./provenance.ts";
 * const s = await gitState();
 * console.log(s.commit.slice(0, 7), s.dirty ? `dirty ${s.diffSha256?.slice(0, 12)}` : "clean");
 * ```
 */
export async function gitState(cwd?: string, exclude: readonly string[] = []): Promise<GitState> {
  const head = (await git(["rev-parse", "HEAD"], cwd))?.trim();
  if (!head) return { commit: "unknown", dirty: false };
  const root = ((await git(["rev-parse", "--show-toplevel"], cwd)) ?? ".").trim();
  // The run's own output folder is left out (what the run writes does not change what ran); paths outside the
  // checkout need no exclusion (git would refuse them).
  const base = cwd ?? Deno.cwd();
  const inside = exclude.map((p) => (p.startsWith("/") ? p : `${base}/${p}`).replace(/\/+$/, ""))
    .filter((p) => p.startsWith(`${root}/`)).map((p) => `:(top,exclude)${p.slice(root.length + 1)}`);
  const specs = ["--", ":/", ...inside];
  const status = await git(["status", "--porcelain", "--untracked-files=all", ...specs], cwd);
  // A failing `git status` says nothing about the tree: count it as dirty rather than clean.
  if (status === undefined) return { commit: head, dirty: true };
  if (status.trim() === "") return { commit: head, dirty: false };
  const diff = (await git(["diff", "HEAD", "--binary", ...specs], cwd)) ?? "";
  const untracked =
    ((await git(["ls-files", "--others", "--exclude-standard", "--full-name", "-z", ...specs], cwd)) ?? "")
      .split("\0").filter((p) => p).sort();
  const parts: string[] = [diff];
  for (const p of untracked) {
    let body = "";
    try {
      body = await sha256Hex(await Deno.readFile(`${root}/${p}`));
    } catch {
      body = "unreadable";
    }
    parts.push(`\0untracked ${p} ${body}`);
  }
  return { commit: head, dirty: true, diffSha256: await sha256Hex(new TextEncoder().encode(parts.join(""))) };
}

/**
 * The short version label of a git state, as results' `env.git` records it: the 7-character commit with "-dirty"
 * when the tree had changes, or "unknown".
 *
 * @example Usage
 * ```ts
 * import { versionLabel } from "./provenance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(versionLabel({ commit: "3f2a9c1e0b", dirty: true }), "3f2a9c1-dirty");
 * assert.equal(versionLabel({ commit: "unknown", dirty: false }), "unknown");
 * ```
 */
export function versionLabel(state: GitState): string {
  if (state.commit === "unknown") return "unknown";
  return `${state.commit.slice(0, 7)}${state.dirty ? "-dirty" : ""}`;
}

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/^model name\s*:\s*(.+)$/m);
    return m ? m[1].trim() : "unknown";
  } catch {
    return "unknown";
  }
}

function loadavg(): number[] {
  try {
    return Deno.loadavg();
  } catch {
    return [];
  }
}

/** Options for {@linkcode startProvenance}. */
export interface StartProvenanceOptions {
  /** The command line to record. @default {["deno", ...Deno.args] with the main module}} */
  command?: string[];
  /** The checkout to inspect. @default {Deno.cwd()} */
  cwd?: string;
  /** The run's start time. @default {new Date()} */
  date?: Date;
  /** Paths left out of the git state (the run's output folder, when it is inside the checkout). */
  exclude?: readonly string[];
}

/**
 * Records a run's provenance at its start. Call it before the run does anything else, and
 * {@linkcode finishProvenance} when it ends.
 *
 * @example Usage
 * ```ts
 * import { finishProvenance, startProvenance } from "./provenance.ts";
 * import assert from "node:assert/strict";
 *
 * const p = await startProvenance({ command: ["deno", "task", "experiment", "quickstart"] });
 * // ... the run ...
 * const done = await finishProvenance(p);
 * assert.ok(done.end !== undefined && done.start <= done.end);
 * assert.equal(done.revisionChanged, false);
 * ```
 */
export async function startProvenance(options: StartProvenanceOptions = {}): Promise<Provenance> {
  const start = (options.date ?? new Date()).toISOString();
  const before = loadavg();
  const blas = blasPatchInfo();
  const openblas = blas?.config?.match(/OpenBLAS\s+[\d.]+/)?.[0];
  return {
    start,
    git: await gitState(options.cwd, options.exclude),
    command: options.command ?? ["deno", "run", Deno.mainModule, ...Deno.args],
    settings: memtrainSettings(),
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      tfjs: tf.version.tfjs,
      ...(openblas ? { openblas } : {}),
    },
    cpu: { model: cpuModel(), cores: navigator.hardwareConcurrency ?? 1 },
    load: { before },
  };
}

/**
 * Completes a provenance record at the end of the run: end time, load after, and whether the checkout changed while
 * the run ran (another HEAD, or a different diff; give the same `cwd` and `exclude` as at the start). Returns a new
 * record.
 *
 * @example Usage
 * ```ts ignore
 * const p = await startProvenance();
 * const done = await finishProvenance(p);
 * if (done.revisionChanged) console.warn("the checkout changed during the run");
 * ```
 */
export async function finishProvenance(
  p: Provenance,
  cwd?: string,
  exclude: readonly string[] = [],
): Promise<Provenance> {
  const now = await gitState(cwd, exclude);
  const changed = now.commit !== p.git.commit || now.dirty !== p.git.dirty || now.diffSha256 !== p.git.diffSha256;
  return {
    ...p,
    end: new Date().toISOString(),
    ...(changed ? { gitAtEnd: now } : {}),
    revisionChanged: changed,
    load: { ...p.load, after: loadavg() },
  };
}

/**
 * The one-line reason a run must not publish under experiments/results/, or undefined when it may: a dirty tree
 * (unless `allowDirty`), or a checkout that is not a git repository.
 *
 * @example Usage
 * ```ts
 * import { publishRefusal } from "./provenance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(publishRefusal({ commit: "abc", dirty: false }, false), undefined);
 * assert.match(publishRefusal({ commit: "abc", dirty: true }, false)!, /--allowDirty/);
 * assert.equal(publishRefusal({ commit: "abc", dirty: true }, true), undefined);
 * ```
 */
export function publishRefusal(state: GitState, allowDirty: boolean): string | undefined {
  if (state.commit === "unknown") {
    return "results under experiments/results/ must come from a git checkout (no commit to record)";
  }
  if (state.dirty && !allowDirty) {
    return "the working tree has uncommitted changes: results under experiments/results/ must come from a clean " +
      "tree (commit or stash first, or pass --allowDirty, which is recorded in the result)";
  }
  return undefined;
}
