/**
 * Ctrl-C during a sweep: the first SIGINT lets the running cell finish (it is journaled) and stops the sweep before
 * the next one; a second SIGINT abandons the running cell at once. Either way the sweep prints the command that
 * resumes it and exits with code {@linkcode INTERRUPTED_EXIT} (128 + SIGINT, as shells report it).
 * @module
 */

/** The exit code of an interrupted sweep: 130 (128 + SIGINT). */
export const INTERRUPTED_EXIT = 130;

/** A SIGINT watcher of a sweep. */
export interface InterruptWatch {
  /** True once SIGINT arrived. */
  readonly interrupted: boolean;
  /** Removes the signal listener (call when the sweep ends). */
  dispose(): void;
}

/**
 * Listens for SIGINT: the first one sets `interrupted` and calls `onFirst`; the second calls `onSecond` (which
 * abandons the running cell, e.g. by exiting). Off Unix-like systems nothing is installed.
 *
 * @example Usage
 * ```ts
 * import { watchInterrupt } from "./interrupt.ts";
 * const watch = watchInterrupt({ onFirst: () => {}, onSecond: () => Deno.exit(130) });
 * // ... run cells while !watch.interrupted ...
 * watch.dispose();
 * ```
 */
export function watchInterrupt(handlers: { onFirst(): void; onSecond(): void }): InterruptWatch {
  let count = 0;
  const listener = () => {
    count++;
    if (count === 1) handlers.onFirst();
    else handlers.onSecond();
  };
  const installed = Deno.build.os !== "windows";
  if (installed) Deno.addSignalListener("SIGINT", listener);
  return {
    get interrupted() {
      return count > 0;
    },
    dispose() {
      if (installed) Deno.removeSignalListener("SIGINT", listener);
    },
  };
}

/**
 * Quotes one argument for a POSIX shell when it needs it.
 *
 * @example Usage
 * ```ts
 * import { shellQuote } from "./interrupt.ts";
 * shellQuote("--lr=0.1"); // "--lr=0.1"
 * shellQuote("a b"); // "'a b'"
 * ```
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that resumes a sweep: `deno task experiment` with the same arguments, `--out DIR` when they had none
 * (the scratch folder the run claimed), and `--resume` unless already there.
 *
 * @example Usage
 * ```ts
 * import { resumeCommand } from "./interrupt.ts";
 * resumeCommand(["mesa", "--quick"], "runs/mesa-1"); // "deno task experiment mesa --quick --out runs/mesa-1 --resume"
 * ```
 */
export function resumeCommand(args: readonly string[], outDir: string): string {
  const hasOut = args.some((a) => a === "--out" || a.startsWith("--out="));
  const parts = [...args, ...(hasOut ? [] : ["--out", outDir]), ...(args.includes("--resume") ? [] : ["--resume"])];
  return ["deno task experiment", ...parts.map(shellQuote)].join(" ");
}
