/**
 * `deno task doc:lint`: `deno doc --lint` on the public entry point (`mod.ts`), with one rule relaxed the way Deno
 * itself relaxed it for remote packages (denoland/deno#34339, "don't lint private-type-ref for cross-package types"):
 * a public memtrain type may reference a type of another package (TensorFlow.js's `Tensor`, zod's types). Deno 2.9's
 * fix skips only non-`file:` modules, and npm packages live in `node_modules/` as files, so it does not apply here;
 * this tool drops exactly those diagnostics whose referenced declaration is not in the project's own sources, and
 * fails on everything else (missing JSDoc, missing explicit types, private project types).
 *
 * Prints the remaining diagnostics and a one-line summary; exits 1 when any remain.
 * @module
 */
import { dirname, join, normalize } from "node:path";

/** One diagnostic block of `deno doc --lint`. */
export interface DocDiagnostic {
  /** The rule, e.g. `private-type-ref`. */
  rule: string;
  /** The whole block as printed. */
  text: string;
  /** For `private-type-ref`: the source line of the referenced declaration. */
  referenced?: string;
}

/** Splits `deno doc --lint` output (colours stripped) into diagnostic blocks. */
export function parseDocLint(output: string): DocDiagnostic[] {
  // deno-lint-ignore no-control-regex -- ANSI colour codes start with ESC
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const blocks = plain.split(/\n(?=error\[)/).filter((b) => b.startsWith("error["));
  return blocks.map((text) => {
    const rule = /^error\[([^\]]+)\]/.exec(text)![1];
    const ref = /\n\s*\d+\s*\|\s*(.+)\n\s*\|\s*-+ this is the referenced type/.exec(text);
    return { rule, text: text.trimEnd(), ...(ref ? { referenced: ref[1].trim() } : {}) };
  });
}

/** True when the diagnostic is a private-type-ref to a declaration that is not in `sources` (another package's). */
export function isCrossPackageRef(d: DocDiagnostic, sources: readonly string[]): boolean {
  if (d.rule !== "private-type-ref" || d.referenced === undefined) return false;
  return !sources.some((s) => s.includes(d.referenced!));
}

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile && p.endsWith(".ts")) yield p;
  }
}

if (import.meta.main) {
  const root = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
  const entries = Deno.args.length > 0 ? Deno.args : ["mod.ts"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...entries],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const sources = [join(root, "mod.ts"), ...walk(join(root, "lib"))].map((p) => Deno.readTextFileSync(p));
  const all = parseDocLint(text);
  const external = all.filter((d) => isCrossPackageRef(d, sources));
  const remaining = all.filter((d) => !isCrossPackageRef(d, sources));
  for (const d of remaining) console.log(d.text + "\n");
  if (out.code !== 0 && all.length === 0) {
    console.log(text);
    console.log("doc:lint: deno doc failed");
    Deno.exit(1);
  }
  console.log(
    `doc:lint: ${remaining.length} problem(s) in ${entries.join(" ")}` +
      ` (${external.length} references to other packages' types skipped, as deno#34339 does for remote packages)`,
  );
  if (remaining.length > 0) Deno.exit(1);
}
