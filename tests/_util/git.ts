/**
 * `git` in a test's fixture repository, with a fixed identity and no signing, returning stdout trimmed.
 * @module
 */

/** Runs `git ...args` in `cwd`; throws with git's stderr when it fails. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("git", {
    args: ["-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout).trim();
}

/**
 * A fresh temporary git repository (`prefix` names its folder) holding `files` (path relative to the root → text),
 * committed once as "code"; returns its root. The caller removes it.
 */
export async function repoWith(prefix: string, files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix });
  for (const [path, text] of Object.entries(files)) {
    if (path.includes("/")) await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
  await git(root, "init", "-q");
  await git(root, "add", ".");
  await git(root, "commit", "-qm", "code");
  return root;
}
