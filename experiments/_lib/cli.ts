/**
 * Command-line parsing for `deno task experiment`.
 * @module
 */
import { UsageError } from "./errors.ts";

/** A `--key=value` (or bare `--flag`) config override, before type conversion. */
export interface Override {
  /** The key as written (without the leading `--`). */
  key: string;
  /** The text after `=`, or `undefined` for a bare `--flag`. */
  value: string | undefined;
}

/** The parsed command line. */
export interface CliArgs {
  /** The experiment name (first positional argument). */
  name?: string;
  /** `--help` / `-h`. */
  help: boolean;
  /** `--list`. */
  list: boolean;
  /** `--quick`: apply the experiment's quick preset. */
  quick: boolean;
  /** `--out DIR`: results directory. */
  out?: string;
  /** `--backend NAME`: passed to `initBackend`, which validates it. */
  backend?: string;
  /** `--jobs N`: run the experiment's cells in up to N worker processes. */
  jobs?: number;
  /** `--in-process`: run the cells of an experiment that defaults to fresh processes in this process instead. */
  inProcess: boolean;
  /** `--cell I` (internal): run only cell I and print its rows as JSON (a worker of `--jobs`). */
  cell?: number;
  /** `--shard I/N`: run only the cells whose index is I-1 modulo N, and write their rows (merge them later). */
  shard?: { index: number; count: number };
  /** `--quiet`: no progress output (errors and the table still print). */
  quiet: boolean;
  /** `--resume`: skip the cells journaled in `--out` (and resume training state from its checkpoints). */
  resume: boolean;
  /** `--checkpointEvery N`: save each cell's training state every N steps (default: none). */
  checkpointEvery?: number;
  /** `--skipNonFinite`: skip (and count) training steps whose loss or gradient is not finite. */
  skipNonFinite: boolean;
  /** `--allowDirty`: let a dirty tree write under experiments/results/ (recorded in the result's provenance). */
  allowDirty: boolean;
  /** Config overrides in command-line order (later ones win). */
  overrides: Override[];
}

/** The usage text printed by `--help`. */
export const USAGE = `Usage: deno task experiment <name> [options] [--key=value ...]
       deno task experiment merge DIR... [--out DIR]   (join the outputs of --shard runs)
       deno task experiment --list
       deno task experiment <name> --help   (config keys, defaults and quick preset)

Options:
  --quick            apply the experiment's quick preset (small, fast run)
  --out DIR          results directory; writes DIR/<name>.json (default: a new runs/<name>-<time>/ folder,
                     gitignored). Committed results: --out experiments/results/<dir> (refused with --quick)
  --backend NAME     tfjs backend: auto, wasm, cpu, blas, tensorflow (default: auto or $MEMTRAIN_BACKEND)
  --jobs N           run the experiment's cells in up to N worker processes (experiments that define cells;
                     each worker gets cores/N BLAS threads, at least one, unless MEMTRAIN_BLAS_THREADS is set)
  --in-process       run the cells in this process (memory runs each cell in a fresh process by default)
  --shard I/N        run only shard I of N (cells I, I+N, I+2N, ... counting from 1) and write their rows; join the
                     shards' folders with: deno task experiment merge DIR... [--out DIR]
  --quiet            no progress bar or progress lines (errors and the result table still print)
  --resume           continue an interrupted sweep in --out DIR: skip the cells in DIR/<name>.cells.jsonl
                     (refused when they were recorded with another config); Ctrl-C prints this command
  --checkpointEvery N  save each cell's training state every N steps under DIR/checkpoints/ (default: none)
  --skipNonFinite    skip (and count) a training step whose loss or gradient is not finite, instead of stopping
  --allowDirty       let a tree with uncommitted changes write under experiments/results/ (refused otherwise;
                     recorded in the result's provenance)
  --key=value        override a config key; numbers, booleans, enum values and comma lists are parsed
  --list             list the registered experiments
  -h, --help         show this help

Set MEMTRAIN_DEBUG=1 to print stack traces of errors.`;

/**
 * Parses the arguments of `experiments/run.ts`.
 *
 * @example Usage
 * ```ts
 * import { parseCli } from "./cli.ts";
 * const args = parseCli(["baseline", "--quick", "--lr=0.01", "--out", "/tmp/r"]);
 * args.name; // "baseline"
 * args.overrides; // [{ key: "lr", value: "0.01" }]
 * ```
 * @throws {UsageError} for an unknown short option, a missing option value or a second positional argument.
 */
export function parseCli(args: string[]): CliArgs {
  const out: CliArgs = {
    help: false,
    list: false,
    quick: false,
    inProcess: false,
    quiet: false,
    resume: false,
    skipNonFinite: false,
    allowDirty: false,
    overrides: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") continue;
    if (arg === "-h" || arg === "--help") out.help = true;
    else if (arg === "--list") out.list = true;
    else if (arg === "--quick") out.quick = true;
    else if (arg === "--in-process") out.inProcess = true;
    else if (arg === "--quiet") out.quiet = true;
    else if (arg === "--resume") out.resume = true;
    else if (arg === "--skipNonFinite") out.skipNonFinite = true;
    else if (arg === "--allowDirty") out.allowDirty = true;
    else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const key = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      let value = eq === -1 ? undefined : arg.slice(eq + 1);
      if (key === "") throw new UsageError(`bad option "${arg}"`);
      if (key === "resume" || key === "skipNonFinite") {
        throw new UsageError(`option --${key} takes no value: current value is "${value}"`);
      }
      const valued = ["out", "backend", "jobs", "cell", "shard", "checkpointEvery"];
      if (valued.includes(key)) {
        if (value === undefined) {
          value = args[++i];
          if (value === undefined || value.startsWith("--")) {
            const example = { out: "DIR", backend: "wasm", jobs: "2", cell: "0", shard: "1/4", checkpointEvery: "100" }[
              key
            ];
            throw new UsageError(`option --${key} needs a value, e.g. --${key}=${example}`);
          }
        }
        if (key === "shard") {
          out.shard = parseShard(value);
        } else if (key === "jobs" || key === "cell" || key === "checkpointEvery") {
          const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
          if (!Number.isSafeInteger(n) || n < (key === "cell" ? 0 : 1)) {
            throw new UsageError(
              `option --${key} must be a ${
                key === "cell" ? "non-negative" : "positive"
              } integer: current value is "${value}"`,
            );
          }
          out[key] = n;
        } else {
          out[key as "out" | "backend"] = value;
        }
      } else {
        out.overrides.push({ key, value });
      }
    } else if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      throw new UsageError(`unknown option "${arg}" (see --help)`);
    } else if (out.name === undefined) {
      out.name = arg;
    } else {
      throw new UsageError(`unexpected argument "${arg}": config overrides are written --key=value`);
    }
  }
  return out;
}

/**
 * Parses `I/N` (shard I of N, counting from 1).
 *
 * @example Usage
 * ```ts
 * import { parseShard } from "./cli.ts";
 * parseShard("2/3"); // { index: 2, count: 3 }
 * ```
 * @throws {UsageError} unless I and N are integers with 1 <= I <= N.
 */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw new UsageError(`option --shard must be I/N with 1 <= I <= N, e.g. --shard=2/4: current value is "${text}"`);
  }
  return { index, count };
}
