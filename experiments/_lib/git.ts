/**
 * Runs git for the harness's provenance and freshness checks, never taking git's index lock.
 * @module
 */

/**
 * Runs `git --no-optional-locks ARGS` in `cwd` (default: the current directory) and returns whether it succeeded and
 * its stdout (`ok: false`, `out: ""` when git is missing). `--no-optional-locks`: never take index.lock, so a
 * concurrent commit is not disturbed.
 *
 * @example Usage
 * ```ts ignore
 * import { runGit } from "./git.ts";
 * const { ok, out } = await runGit(["rev-parse", "HEAD"]);
 * console.log(ok ? out.trim() : "not a git checkout");
 * ```
 */
export async function runGit(args: string[], cwd?: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { success, stdout } = await new Deno.Command("git", {
      args: ["--no-optional-locks", ...args],
      cwd,
      stdout: "piped",
      stderr: "null",
    }).output();
    return { ok: success, out: new TextDecoder().decode(stdout) };
  } catch {
    return { ok: false, out: "" };
  }
}
