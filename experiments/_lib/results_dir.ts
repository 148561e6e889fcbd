/**
 * Where committed results live, and the test for a path inside it: shared by `deno task experiment` and
 * `deno task bench` (so that the bench does not import the experiment CLI and, through its registry, every
 * experiment: `report --check` counts what an entry imports as the code its results measure).
 * @module
 */

/** The committed results directory: only an explicit `--out` under it writes there, and never a quick run. */
export const RESULTS_DIR = "experiments/results";

/**
 * Whether `dir` is the committed results directory or inside it (relative to the current directory).
 *
 * @example Usage
 * ```ts
 * import { isUnderResults } from "./results_dir.ts";
 * console.log(isUnderResults("experiments/results/memory")); // true
 * console.log(isUnderResults("runs/memory")); // false
 * ```
 */
export function isUnderResults(dir: string): boolean {
  const norm = (p: string) => p.replace(/\/+/g, "/").replace(/^\.\//, "").replace(/\/$/, "");
  const cwd = norm(Deno.cwd());
  const abs = dir.startsWith("/") ? norm(dir) : `${cwd}/${norm(dir)}`;
  const results = `${cwd}/${RESULTS_DIR}`;
  return abs === results || abs.startsWith(`${results}/`);
}
