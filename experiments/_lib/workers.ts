/**
 * `--jobs N`: an experiment's cells run in worker processes (a wasm process uses one core). Each worker is the same
 * command line plus `--cell I`; it prints its rows as one JSON line after {@linkcode ROWS_MARKER}.
 * @module
 */
import type { Row } from "./experiment.ts";

/** Prefix of the line a worker prints its rows on. */
export const ROWS_MARKER = "@@memtrain-rows ";

/** Options for {@linkcode runCellsInWorkers}. */
export interface WorkerOptions {
  /** The experiment command line of the parent, without `--jobs`. */
  args: string[];
  /** The indices of the cells to run. */
  cells: number[];
  /** Maximum concurrent workers. */
  jobs: number;
  /** Progress lines (stderr of the workers, prefixed with their cell). */
  log(msg: string): void;
  /** Called when cell `index` starts, with the number of cells done so far. */
  onCell?(index: number, done: number): void;
  /** The script to run. @default {experiments/run.ts next to this folder} */
  script?: string;
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) !== -1) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(buf);
}

/**
 * Runs every cell in a worker process, at most `jobs` at a time, and returns each cell's rows, in the order of
 * `cells`.
 */
export async function runCellsInWorkers(options: WorkerOptions): Promise<Row[][]> {
  const script = options.script ?? new URL("../run.ts", import.meta.url).pathname;
  const results: Row[][] = new Array(options.cells.length);
  let next = 0, done = 0;
  const env = { MEMTRAIN_BLAS_THREADS: Deno.env.get("MEMTRAIN_BLAS_THREADS") ?? "1", NO_COLOR: "1" };
  const worker = async () => {
    while (next < options.cells.length) {
      const k = next++, i = options.cells[k];
      options.onCell?.(i, done);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...options.args, "--cell", String(i)],
        env,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let rows: Row[] | undefined;
      const errors: string[] = [];
      await Promise.all([
        pipeLines(child.stdout, (line) => {
          if (line.startsWith(ROWS_MARKER)) rows = JSON.parse(line.slice(ROWS_MARKER.length));
        }),
        pipeLines(child.stderr, (line) => {
          if (line.startsWith("error: ")) errors.push(line.slice(7));
          options.log(`[cell ${i}] ${line}`);
        }),
      ]);
      const status = await child.status;
      if (!status.success || !rows) {
        throw new Error(`cell ${i} failed (exit ${status.code})${errors.length ? `: ${errors.join("; ")}` : ""}`);
      }
      results[k] = rows;
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, options.cells.length) }, worker));
  return results;
}
