/**
 * `deno task report [--results DIR] [--out FILE] [--readme FILE | --no-readme] [--check]`: one Markdown page from every result
 * JSON under `DIR` (default `experiments/results/`), and the README's generated blocks refreshed from the same files.
 *
 * Per result the page has the command that produced it (rebuilt from the recorded config), the environment (git
 * revision, date, backend, threads, Deno, tfjs), the table (labels with units) and the experiment's charts, each
 * rendered to an SVG file next to the JSON (`<experiment>-<chart>.svg`). Writes `docs/results.md` by default.
 *
 * README blocks are the text between a start marker and `<!-- /report -->`, each marker on its own line:
 *
 * ```text
 * <!-- report:table mesa-vit/mesa.json columns=technique,savedMiB,accuracy -->
 * <!-- report:plot memory/memory.json chart=tradeoff -->
 * ```
 *
 * A table block gets the Markdown table of the named columns (default: the experiment's) and a line naming its
 * source; a plot block gets the chart's image. Paths are relative to `DIR`. Regenerating a README that is up to date
 * changes nothing, so a check can rerun the report and compare.
 * @module
 */
import { type AnyExperiment, type NamedChart, type Row } from "../experiments/_lib/experiment.ts";
import { columnOrder } from "../experiments/_lib/table.ts";
import { commandLine } from "../experiments/run.ts";
import { experiments } from "../experiments/registry.ts";
import { barChartSpec, type Column, markdownTable, renderSvg } from "../lib/viz/mod.ts";
import { checkFreshness } from "./freshness.ts";
import { checkNotebookFreshness, notebooksIn } from "./notebook_freshness.ts";

/** One result file: where it is and what it holds. */
export interface ResultFile {
  /** Path relative to the results directory, e.g. "mesa-vit/mesa.json". */
  path: string;
  /** The experiment's name ("bench" for `deno task bench` output). */
  experiment: string;
  /** The resolved config (empty for bench). */
  config: Record<string, unknown>;
  /** The recorded environment (`env`, or bench's `meta`). */
  env: Record<string, unknown>;
  /** The rows. */
  rows: Row[];
  /** Set for the output of one `--shard` run. */
  shard?: { index: number; count: number };
}

/** Column key → header with the unit, and a factor applied to the values (fractions shown as %). */
export const COLUMN_LABELS: Readonly<Record<string, { label: string; scale?: number; digits?: number }>> = {
  technique: { label: "technique" },
  model: { label: "model" },
  steps: { label: "steps" },
  loss: { label: "train loss (nats)" },
  valLoss: { label: "val loss (nats)", digits: 4 },
  valLossRatio: { label: "val loss / baseline", digits: 4 },
  accuracy: { label: "accuracy (%)", scale: 100, digits: 4 },
  accuracyDeltaPts: { label: "Δ accuracy (points)" },
  msPerStep: { label: "ms/step" },
  peakMiB: { label: "step peak (MiB)" },
  savedMiB: { label: "saved (MiB)" },
  predictedSavedMiB: { label: "predicted saved (MiB)" },
  predictedPeakSavedMiB: { label: "predicted peak saved (MiB)" },
  heapPeakMiB: { label: "heap peak (MiB)" },
  fragmentation: { label: "heap / meter", digits: 4 },
  heapPeakRatio: { label: "heap peak / baseline" },
  staticMiB: { label: "static (MiB)" },
  moduleMiB: { label: "module's own (MiB)" },
  roundingMiB: { label: "rounding (MiB)" },
  holesMiB: { label: "holes (MiB)" },
  heapAllocator: { label: "heap" },
  peakRatio: { label: "peak / baseline" },
  savedRatio: { label: "saved / baseline" },
  peakSavedRatio: { label: "peak saved / baseline" },
  timeRatio: { label: "time / baseline" },
  meanOvershoot: { label: "mean overshoot (% of range)", scale: 100 },
  maxOvershoot: { label: "max overshoot (% of range)", scale: 100 },
  beyondShare: { label: "beyond the range (%)", scale: 100 },
  gflops: { label: "GFLOP/s" },
  sgemmGflops: { label: "sgemm GFLOP/s" },
  optimizer: { label: "optimizer" },
  tensorDriftPct: { label: "tensor drift (%)" },
  liveMiB: { label: "live after warm-up (MiB)" },
  liveDriftPct: { label: "live drift (%)" },
  leakedTensors: { label: "tensors left after the cell" },
};

/** Table columns for `keys`, with {@linkcode COLUMN_LABELS} applied. */
export function reportColumns(keys: readonly string[]): Column[] {
  return keys.map((key) => {
    const known = COLUMN_LABELS[key];
    const scale = known?.scale ?? 1, digits = known?.digits ?? 3;
    return {
      key,
      label: known?.label ?? key,
      format: (v: unknown) => (typeof v === "number" ? fmt(v * scale, digits) : fmt(v, digits)),
    };
  });
}

/** A cell: numbers to `digits` significant digits (one decimal from 100 up), integers as they are. */
function fmt(v: unknown, digits: number): string {
  if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 || (a < 1e-3 && a > 0)) return v.toExponential(2);
  return String(Number(a >= 100 ? v.toFixed(1) : v.toPrecision(digits)));
}

/** Every result JSON under `dir` (recursively, sorted by path; `ci/` smoke runs left out). */
export async function collectResults(dir: string): Promise<ResultFile[]> {
  const root = dir.replace(/\/+$/, "");
  const out: ResultFile[] = [];
  const walk = async (rel: string) => {
    const entries = [...await Array.fromAsync(Deno.readDir(rel ? `${root}/${rel}` : root))]
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory && path !== "ci") await walk(path);
      else if (e.isFile && e.name.endsWith(".json")) {
        const json = JSON.parse(await Deno.readTextFile(`${root}/${path}`));
        if (!Array.isArray(json.rows)) continue;
        out.push({
          path,
          experiment: typeof json.experiment === "string" ? json.experiment : "bench",
          config: json.config ?? {},
          env: json.env ?? json.meta ?? {},
          rows: json.rows,
          ...(json.shard ? { shard: { index: json.shard.index, count: json.shard.count } } : {}),
        });
      }
    }
  };
  await walk("");
  return out;
}

const registered = (name: string): AnyExperiment | undefined =>
  Object.hasOwn(experiments, name) ? experiments[name] : undefined;

/** The columns a result's table shows: the experiment's `columns` (and technique, model), else every column. */
function shownKeys(r: ResultFile): string[] {
  const preferred = registered(r.experiment)?.columns;
  const all = columnOrder(r.rows, preferred);
  return preferred ? all.filter((k) => preferred.includes(k) || k === "technique" || k === "model") : all;
}

/** The charts of a result: the experiment's own, or bench's throughput bars. */
export function chartsOf(r: ResultFile): NamedChart[] {
  if (r.experiment === "bench") {
    const rows = r.rows.filter((x) => typeof x.gflops === "number" && String(x.config).startsWith("sgemm"));
    if (rows.length === 0) return [];
    return [{
      name: "sgemm",
      caption: "sgemm throughput per backend and thread count (GFLOP/s)",
      spec: barChartSpec(
        rows.map((x) => ({
          label: String(x.config),
          group: `${x.backend} ×${x.threads}${x.threading ? ` (${x.threading})` : ""}`,
          value: Number(x.gflops),
        })),
        { title: "sgemm throughput", yLabel: "GFLOP/s" },
      ),
    }];
  }
  const e = registered(r.experiment);
  return e?.charts ? e.charts(r.rows, r.config) : [];
}

/** The SVG file of chart `name` of a result, relative to the results directory. */
export function chartPath(r: ResultFile, name: string): string {
  const dir = r.path.includes("/") ? r.path.slice(0, r.path.lastIndexOf("/") + 1) : "";
  return `${dir}${r.experiment}-${name}.svg`;
}

function envLine(r: ResultFile): string {
  const e = r.env;
  const threads = e.threads as { count: number; via: string; processes?: number } | undefined;
  const parts = [
    e.git !== undefined ? `git \`${e.git}\`` : undefined,
    typeof e.date === "string" ? e.date.slice(0, 10) : undefined,
    e.backend !== undefined ? `backend ${e.backend}` : undefined,
    threads
      ? `${threads.count} thread(s) (${threads.via})${threads.processes ? ` × ${threads.processes} processes` : ""}`
      : undefined,
    e.cores !== undefined ? `${e.cores} cores` : undefined,
    e.deno !== undefined ? `Deno ${e.deno}` : undefined,
    e.tfjs !== undefined ? `tfjs ${e.tfjs}` : undefined,
    e.quick ? "**quick run (smoke test)**" : undefined,
  ];
  return parts.filter((p) => p).join(", ");
}

/**
 * The command that produced a result: the one its provenance recorded (with the `MEMTRAIN_*` settings in front), else
 * rebuilt from its config; undefined when it cannot be rebuilt.
 */
export function commandOf(r: ResultFile, resultsDir = "experiments/results"): string | undefined {
  const prov = r.env.provenance as { command?: unknown; settings?: Record<string, string> } | undefined;
  if (Array.isArray(prov?.command) && prov.command.length > 0) {
    const quote = (a: string) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
    const vars = Object.entries(prov.settings ?? {}).map(([k, v]) => `${k}=${quote(v)}`);
    return [...vars, ...prov.command.map((a) => quote(String(a)))].join(" ");
  }
  const e = registered(r.experiment);
  if (!e) return undefined;
  let cmd: string;
  try {
    cmd = commandLine(e, r.config, Boolean(r.env.quick));
  } catch {
    return undefined;
  }
  const threads = r.env.threads as { processes?: number } | undefined;
  const dir = r.path.includes("/") ? r.path.slice(0, r.path.lastIndexOf("/")) : "";
  return `${cmd}${threads?.processes ? ` --jobs=${threads.processes}` : ""} --out ${resultsDir}${dir ? `/${dir}` : ""}`;
}

/** The Markdown table of a result (`keys` default: the experiment's columns). */
export function resultTable(r: ResultFile, keys = shownKeys(r)): string {
  return markdownTable(r.rows, reportColumns(keys));
}

/** The report page: one section per result, images linked relative to `pageDir` (the page's directory). */
export function renderReport(results: readonly ResultFile[], resultsDir: string, pageDir: string): string {
  const rel = relativePath(pageDir, resultsDir);
  const lines = [
    "# memtrain results",
    "",
    `Generated by \`deno task report\` from the JSON files under \`${resultsDir}/\` (do not edit by hand). Each section: the`,
    "command that produced the result (rebuilt from its recorded config), where it ran, its table and its charts.",
    "",
  ];
  for (const r of results) {
    lines.push(
      `## ${r.path.replace(/\.json$/, "")} (${r.experiment}${
        r.shard ? `, shard ${r.shard.index}/${r.shard.count}` : ""
      })`,
      "",
    );
    const cmd = commandOf(r, resultsDir);
    if (cmd) lines.push(`\`${cmd}\``, "");
    lines.push(`Ran: ${envLine(r)}.`, "");
    lines.push(resultTable(r), "");
    const hidden = columnOrder(r.rows).filter((k) => !shownKeys(r).includes(k));
    if (hidden.length) lines.push(`Also in the JSON: ${hidden.join(", ")}.`, "");
    for (const c of chartsOf(r)) lines.push(`![${c.caption}](${rel}/${chartPath(r, c.name)})`, "");
  }
  return lines.join("\n").trimEnd() + "\n";
}

function relativePath(from: string, to: string): string {
  const a = from.split("/").filter((p) => p && p !== "."), b = to.split("/").filter((p) => p && p !== ".");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/") || ".";
}

/** A README block start marker: `<!-- report:table PATH [columns=a,b] -->` or `<!-- report:plot PATH chart=NAME -->`. */
const BLOCK = /^<!-- report:(table|plot) (\S+)((?: \w+=\S+)*) -->\n([\s\S]*?)^<!-- \/report -->$/gm;

/**
 * Refreshes the generated blocks of a Markdown text (the README) from `results`; text outside the blocks is kept.
 * Image paths are written relative to `textDir` (the README's directory).
 *
 * @throws {RangeError} for a block naming an unknown result file, column or chart, or an unknown option.
 */
export function refreshBlocks(
  text: string,
  results: readonly ResultFile[],
  resultsDir: string,
  textDir = ".",
): string {
  return text.replace(BLOCK, (_m, kind: string, path: string, opts: string) => {
    const r = results.find((x) => x.path === path);
    const start = `<!-- report:${kind} ${path}${opts} -->`;
    if (!r) throw new RangeError(`Cannot refresh the block "${start}": no result file ${resultsDir}/${path}`);
    const options = Object.fromEntries(opts.trim().split(/\s+/).filter((o) => o).map((o) => o.split("=", 2)));
    for (const k of Object.keys(options)) {
      if (!(kind === "table" ? ["columns"] : ["chart"]).includes(k)) {
        throw new RangeError(`Cannot refresh the block "${start}": unknown option '${k}'`);
      }
    }
    let body: string;
    if (kind === "table") {
      const keys = options.columns ? options.columns.split(",") : shownKeys(r);
      const present = new Set(columnOrder(r.rows));
      const missing = keys.filter((k: string) => !present.has(k));
      if (missing.length) {
        throw new RangeError(`Cannot refresh the block "${start}": the result has no column '${missing.join("', '")}'`);
      }
      const date = typeof r.env.date === "string" ? r.env.date.slice(0, 10) : "?";
      const caption = `_Generated by \`deno task report\` from \`${resultsDir}/${path}\` (git ` +
        `\`${r.env.git ?? "?"}\`, ${date}, ${backendsOf(r)})._`;
      body = `${resultTable(r, keys)}\n\n${wrapProse(caption, 120)}`;
      // (blank lines around the body: the layout deno fmt keeps)
    } else {
      const charts = chartsOf(r);
      const c = options.chart ? charts.find((x) => x.name === options.chart) : charts[0];
      if (!c) {
        throw new RangeError(
          `Cannot refresh the block "${start}": no chart ${options.chart ? `'${options.chart}'` : ""} (it has ${
            charts.map((x) => x.name).join(", ") || "none"
          })`,
        );
      }
      body = `![${c.caption}](${relativePath(textDir, resultsDir)}/${chartPath(r, c.name)})`;
    }
    return `${start}\n\n${body}\n\n<!-- /report -->`;
  });
}

/** Renders every chart of `results` to SVG files next to their JSON; returns the paths written. */
export async function writeCharts(results: readonly ResultFile[], resultsDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const r of results) {
    for (const c of chartsOf(r)) {
      const path = `${resultsDir}/${chartPath(r, c.name)}`;
      await Deno.writeTextFile(path, (await renderSvg(c.spec)) + "\n");
      written.push(path);
    }
  }
  return written;
}

/** Formats Markdown the way `deno fmt` does (the page is then already formatted), falling back to the input. */
async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { success, stdout } = await child.output();
  return success ? new TextDecoder().decode(stdout) : text;
}

const USAGE =
  "Usage: deno task report [--results DIR] [--out FILE] [--readme FILE | --no-readme] [--notebooks DIR | --no-notebooks] [--check]";

/**
 * What `--check` finds wrong, one line each: generated files that differ from what the committed JSON gives (the
 * page, the README's blocks, the charts' SVG), results that are not current ({@linkcode checkFreshness}) and, when
 * `notebooks` names a directory (relative to `root`), notebooks whose saved outputs are not current
 * ({@linkcode checkNotebookFreshness}).
 */
export async function checkReport(
  results: string,
  out: string,
  readme: string | undefined,
  root = Deno.cwd(),
  notebooks?: string,
): Promise<string[]> {
  const problems: string[] = [];
  const files = await collectResults(results);
  const read = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch {
      return undefined;
    }
  };
  const outDir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  if (await read(out) !== await formatMarkdown(renderReport(files, results, outDir))) {
    problems.push(`${out} differs from what ${results}/ gives: run \`deno task report\``);
  }
  for (const r of files) {
    for (const c of chartsOf(r)) {
      const path = `${results}/${chartPath(r, c.name)}`;
      if (await read(path) !== (await renderSvg(c.spec)) + "\n") {
        problems.push(`${path} differs from what ${results}/${r.path} gives: run \`deno task report\``);
      }
    }
  }
  if (readme) {
    const text = await Deno.readTextFile(readme);
    const dir = readme.includes("/") ? readme.slice(0, readme.lastIndexOf("/")) : ".";
    try {
      if (refreshBlocks(text, files, results, dir) !== text) {
        problems.push(`${readme}: generated blocks differ from what ${results}/ gives: run \`deno task report\``);
      }
    } catch (e) {
      problems.push(`${readme}: ${e instanceof Error ? e.message : e}`);
    }
  }
  for (const s of await checkFreshness(files, { root })) problems.push(`${results}/${s.path}: ${s.reason}`);
  if (notebooks !== undefined) {
    const paths = await notebooksIn(notebooks, root);
    for (const s of await checkNotebookFreshness(paths, { root })) problems.push(`${s.path}: ${s.reason}`);
  }
  return problems;
}

/** Runs the report; returns the exit code (0; 1 when `--check` finds a problem; 2 for usage errors, bad blocks). */
export async function main(args: string[]): Promise<number> {
  let results = "experiments/results", out = "docs/results.md", check = false;
  let readme: string | undefined = "README.md";
  let notebooks: string | undefined = "notebooks";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (!v) throw new RangeError(`option ${a} needs a value. ${USAGE}`);
      return v;
    };
    try {
      if (a.startsWith("--results")) results = value().replace(/\/+$/, "");
      else if (a.startsWith("--out")) out = value();
      else if (a.startsWith("--readme")) readme = value();
      else if (a === "--no-readme") readme = undefined;
      else if (a.startsWith("--notebooks")) notebooks = value().replace(/\/+$/, "");
      else if (a === "--no-notebooks") notebooks = undefined;
      else if (a === "--check") check = true;
      else throw new RangeError(`unknown option "${a}". ${USAGE}`);
    } catch (e) {
      console.error(`error: ${e instanceof Error ? e.message : e}`);
      return 2;
    }
  }
  if (check) {
    const problems = await checkReport(results, out, readme, Deno.cwd(), notebooks);
    for (const p of problems) console.error(p);
    console.log(problems.length ? `report --check: ${problems.length} problem(s)` : "report --check: ok");
    return problems.length ? 1 : 0;
  }
  const files = await collectResults(results);
  const charts = await writeCharts(files, results);
  const outDir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(out, await formatMarkdown(renderReport(files, results, outDir)));
  console.log(`wrote ${out}: ${files.length} results, ${charts.length} charts (SVG next to each JSON)`);
  if (readme) {
    const text = await Deno.readTextFile(readme);
    let next: string;
    try {
      const dir = readme.includes("/") ? readme.slice(0, readme.lastIndexOf("/")) : ".";
      next = refreshBlocks(text, files, results, dir);
    } catch (e) {
      console.error(`error: ${readme}: ${e instanceof Error ? e.message : e}`);
      return 2;
    }
    const blocks = [...text.matchAll(BLOCK)].length;
    if (next !== text) await Deno.writeTextFile(readme, next);
    console.log(`${readme}: ${blocks} generated block(s), ${next === text ? "already up to date" : "refreshed"}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/** The backend a result ran on (`env.backend`), else its rows' backends in order of appearance (bench), else "?". */
function backendsOf(r: ResultFile): string {
  if (typeof r.env.backend === "string") return r.env.backend;
  const names = [...new Set(r.rows.map((row) => row.backend).filter((b) => typeof b === "string"))];
  return names.length ? names.join(", ") : "?";
}

/** Greedy word wrap at `width` columns, as `deno fmt` wraps Markdown prose (so a refreshed block is fmt-stable). */
function wrapProse(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n");
}
