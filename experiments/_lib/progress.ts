/**
 * Progress output of experiment runs: training steps (step/N, loss, ms/step, live MiB, ETA) and sweep cells (n/N,
 * elapsed, ETA). On a terminal it is one status line redrawn in place (stderr); when stderr is not a terminal or
 * `CI=true`, plain lines at most every `interval` ms (and at the first and last step); `--quiet` prints nothing.
 * Log lines are printed above the status line. The library reports steps through a callback
 * (`RunOptions.onStep` in `lib/train/runs.ts`); all terminal code lives here.
 * @module
 */
import type { StepProgress } from "../../lib/train/mod.ts";

export type { StepProgress } from "../../lib/train/mod.ts";

/** Receives a run's progress. */
export interface Progress {
  /** A training step finished. */
  step(p: StepProgress): void;
  /** Cell `index` (0-based) of `total` starts (`label` says what it is); `done` cells have finished. */
  cell(index: number, total: number, label: string, done?: number): void;
  /** A message line (printed above the status line). */
  log(msg: string): void;
  /** Clears the status line (call before printing results). */
  done(): void;
}

/** How {@linkcode createProgress} writes. */
export interface ProgressOptions {
  /** Print nothing (`--quiet`). @default {false} */
  quiet?: boolean;
  /** Redraw one status line in place (a terminal); otherwise plain periodic lines. */
  tty: boolean;
  /** Writes one whole line (newline added by the writer). */
  writeLine(s: string): void;
  /** Writes raw text with no newline (terminal mode only). @default {writes to stderr} */
  writeRaw?(s: string): void;
  /** Milliseconds between plain progress lines. @default {10000} */
  interval?: number;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
  /** Terminal width for the status line. @default {the terminal's columns, else 120} */
  columns?: number;
}

/**
 * A duration as `1h02m`, `3m05s` or `42s`.
 *
 * @example Usage
 * ```ts
 * import { formatDuration } from "./progress.ts";
 * formatDuration(185_000); // "3m05s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function bar(fraction: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

/**
 * Creates a progress reporter (see the module doc).
 *
 * @example Plain lines (not a terminal)
 * ```ts
 * import { createProgress } from "./progress.ts";
 * const lines: string[] = [];
 * const p = createProgress({ tty: false, writeLine: (s) => lines.push(s), now: () => 0 });
 * p.step({ step: 1, steps: 10, loss: 2.5, ms: 12, liveBytes: 3 * 2 ** 20 });
 * lines[0]; // "step 1/10  loss 2.500  12 ms/step  live 3.0 MiB  ETA 0s"
 * ```
 */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const interval = options.interval ?? 10_000;
  const raw = options.writeRaw ?? ((s: string) => Deno.stderr.writeSync(new TextEncoder().encode(s)));
  const width = options.columns ?? (() => {
    try {
      const columns = Deno.consoleSize().columns;
      return columns >= 20 ? columns : 120; // a pseudo-terminal may report 0 columns
    } catch {
      return 120;
    }
  })();
  let lastDraw = -Infinity;
  let cellText = "";
  let sweepStart = NaN;
  let runStart = NaN, lastStep = 0, msSum = 0, msCount = 0;
  let lastPlain = -Infinity;
  let shown = false;
  let stepText = "";

  const clear = () => {
    if (shown) raw("\r\x1b[2K");
    shown = false;
  };
  const draw = () => {
    const text = [cellText, stepText].filter((s) => s).join("  ");
    if (!text) return;
    raw(`\r\x1b[2K${text.length > width - 1 ? text.slice(0, width - 2) + "…" : text}`);
    shown = true;
  };

  if (options.quiet) return { step() {}, cell() {}, log() {}, done() {} };

  return {
    step(p) {
      const t = now();
      if (p.step <= lastStep || Number.isNaN(runStart)) {
        runStart = t;
        msSum = 0;
        msCount = 0;
      }
      lastStep = p.step;
      msSum += p.ms;
      msCount++;
      const mean = msSum / msCount;
      const eta = formatDuration((p.steps - p.step) * mean);
      const mib = (p.liveBytes / 2 ** 20).toFixed(1);
      const loss = Number.isFinite(p.loss) ? p.loss.toFixed(3) : String(p.loss);
      if (options.tty) {
        stepText = `${bar(p.step / p.steps)} ${p.step}/${p.steps}  loss ${loss}  ${mean.toFixed(0)} ms/step  ` +
          `live ${mib} MiB  ETA ${eta}`;
        // Redraw at most 10 times a second (fast steps), and always at the last step.
        if (t - lastDraw >= 100 || p.step === p.steps || p.step === 1) {
          lastDraw = t;
          draw();
        }
      } else if (p.step === 1 || p.step === p.steps || t - lastPlain >= interval) {
        lastPlain = t;
        options.writeLine(
          `${cellText ? cellText + "  " : ""}step ${p.step}/${p.steps}  loss ${loss}  ${p.ms.toFixed(0)} ms/step  ` +
            `live ${mib} MiB  ETA ${eta}`,
        );
      }
    },
    cell(index, total, label, done = index) {
      const t = now();
      if (Number.isNaN(sweepStart) || index === 0) sweepStart = t;
      const elapsed = t - sweepStart;
      const eta = done > 0 ? formatDuration((elapsed / done) * (total - done)) : "?";
      cellText = `cell ${index + 1}/${total} ${label}`;
      const line = `${cellText}  (${done} done, elapsed ${formatDuration(elapsed)}, ETA ${eta})`;
      stepText = "";
      if (options.tty) {
        clear();
        options.writeLine(line);
        draw();
      } else {
        options.writeLine(line);
      }
    },
    log(msg) {
      clear();
      options.writeLine(msg);
      if (options.tty) draw();
    },
    done() {
      clear();
      cellText = "";
      stepText = "";
    },
  };
}
