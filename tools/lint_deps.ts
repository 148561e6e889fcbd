/**
 * `deno task lint:deps`: checks who may import what under `lib/` (the layering drawn in `docs/architecture.md`).
 *
 * Rules, on the static imports and re-exports of every `.ts` file under `lib/` (JSDoc examples are not imports):
 * - a folder imports only folders of a lower layer ({@linkcode LAYERS}) or its own;
 * - a technique folder never imports another technique folder;
 * - no import cycle between files.
 *
 * Prints one line per violation and exits 1 when there is any.
 * @module
 */
import { dirname, join, normalize, relative } from "node:path";

/**
 * The layers of `lib/`, lowest first. A folder may import the folders of any lower layer; folders of one layer may
 * not import each other (the techniques), except where {@linkcode SAME_LAYER_OK} allows it.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["memory", "data", "viz"],
  ["backend"],
  ["nn"],
  ["optim", "models", "state"],
  ["checkpoint", "mesa", "wtacrs", "galore", "mezo", "lora", "streambp"],
  ["train"],
];

/** The technique folders: none imports another. */
export const TECHNIQUES: readonly string[] = LAYERS[4];

/** Same-layer imports that are allowed (`from -> to`): none today. */
export const SAME_LAYER_OK: ReadonlySet<string> = new Set<string>();

/** One broken rule. */
export interface DepViolation {
  /** The importing file, relative to the repository root. */
  file: string;
  /** The imported file, relative to the repository root. */
  imports: string;
  /** What rule it breaks. */
  reason: string;
}

const IMPORT_RE = /^\s*(?:import|export)\s[^"';]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm;

/** The relative specifiers a module imports or re-exports statically (comments and JSDoc examples excluded). */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith(".")) out.push(spec);
  }
  return out;
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** The `lib/` folder of a repository-relative path, or undefined outside `lib/`. */
function folderOf(path: string): string | undefined {
  const parts = path.split("/");
  return parts[0] === "lib" && parts.length > 2 ? parts[1] : undefined;
}

/** Checks one import edge against the layering; returns the reason it is wrong, or undefined. */
export function edgeViolation(from: string, to: string): string | undefined {
  const a = folderOf(from), b = folderOf(to);
  if (a === undefined) return undefined;
  if (b === undefined) return to.startsWith("lib/") ? undefined : `lib/ imports outside lib/`;
  if (a === b) return undefined;
  const la = layerOf(a), lb = layerOf(b);
  if (la < 0) return `lib/${a} is not in the layer table (tools/lint_deps.ts)`;
  if (lb < 0) return `lib/${b} is not in the layer table (tools/lint_deps.ts)`;
  if (SAME_LAYER_OK.has(`${a}->${b}`)) return undefined;
  if (TECHNIQUES.includes(a) && TECHNIQUES.includes(b)) return `technique lib/${a} imports technique lib/${b}`;
  if (lb === la) return `lib/${a} imports lib/${b} of the same layer`;
  if (lb > la) return `lib/${a} (layer ${la}) imports the higher lib/${b} (layer ${lb})`;
  return undefined;
}

/** Import cycles in a graph of files, each as the list of files around it (first file repeated at the end). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 1) cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile && p.endsWith(".ts")) yield p;
  }
}

/** Every violation in the repository at `root`. */
export function lintDeps(root: string): DepViolation[] {
  const graph = new Map<string, string[]>();
  const out: DepViolation[] = [];
  for (const abs of walk(join(root, "lib"))) {
    const file = relative(root, abs);
    const deps = importsOf(Deno.readTextFileSync(abs)).map((s) => normalize(join(dirname(file), s)));
    graph.set(file, deps);
    for (const d of deps) {
      const reason = edgeViolation(file, d);
      if (reason) out.push({ file, imports: d, reason });
    }
  }
  for (const c of findCycles(graph)) {
    out.push({ file: c[0], imports: c[1], reason: `import cycle: ${c.join(" -> ")}` });
  }
  return out;
}

if (import.meta.main) {
  const root = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
  const bad = lintDeps(root);
  for (const v of bad) console.log(`${v.file} -> ${v.imports}: ${v.reason}`);
  console.log(bad.length === 0 ? "lint:deps: ok" : `lint:deps: ${bad.length} violation(s)`);
  if (bad.length > 0) Deno.exit(1);
}
