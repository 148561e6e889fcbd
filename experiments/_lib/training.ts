/**
 * The training-state options of an experiment run (`--resume`, `--checkpointEvery N`, `--skipNonFinite`), as
 * experiments see them on `ctx.training`. An experiment passes them on to its training loop, e.g.
 * `runLm({ checkpoint: { dir: ctx.training.dir(id), every: ctx.training.checkpointEvery, resume:
 * ctx.training.resume }, skipNonFinite: ctx.training.skipNonFinite })`.
 * @module
 */

/** Training-state options of a run; see {@linkcode trainingOptions}. */
export interface TrainingOptions {
  /** `--resume`: continue from the checkpoints (and finished cells) under `--out`. */
  resume: boolean;
  /** `--checkpointEvery N`: save the training state every N steps; `undefined` (the default) saves none. */
  checkpointEvery: number | undefined;
  /** `--skipNonFinite`: skip (and count) a step whose loss or gradient is not finite instead of stopping. */
  skipNonFinite: boolean;
  /**
   * The folder for one cell's training state: `<out>/checkpoints/<cellId>`, with characters other than letters,
   * digits, `.`, `_` and `-` replaced by `_` (a different id gives a different folder: a hash suffix is added when
   * replacing changed the id). The folder is not created.
   */
  dir(cellId: string): string;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * Builds the {@linkcode TrainingOptions} of a run writing to `outDir`.
 *
 * @example Usage
 * ```ts
 * import { trainingOptions } from "./training.ts";
 * import assert from "node:assert/strict";
 *
 * const t = trainingOptions("runs/x", { resume: false, checkpointEvery: 50, skipNonFinite: false });
 * assert.equal(t.dir("gpt-mesa"), "runs/x/checkpoints/gpt-mesa");
 * assert.equal(t.checkpointEvery, 50);
 * ```
 * @throws {RangeError} when `checkpointEvery` is given and not a positive integer, or `cellId` is empty.
 */
export function trainingOptions(
  outDir: string,
  options: { resume: boolean; checkpointEvery?: number; skipNonFinite: boolean },
): TrainingOptions {
  const every = options.checkpointEvery;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) {
    throw new RangeError(
      `Cannot set training options: 'checkpointEvery' must be a positive integer: current value is ${every}`,
    );
  }
  const root = `${outDir.replace(/\/+$/, "") || "."}/checkpoints`;
  return {
    resume: options.resume,
    checkpointEvery: every,
    skipNonFinite: options.skipNonFinite,
    dir(cellId: string): string {
      if (typeof cellId !== "string" || cellId === "") {
        throw new RangeError(
          `Cannot name a checkpoint folder: 'cellId' must be a non-empty string: current value is ${
            JSON.stringify(cellId)
          }`,
        );
      }
      const safe = cellId.replace(/[^\w.-]/g, "_").replace(/^\.+/, "_");
      return `${root}/${safe === cellId ? safe : `${safe}-${fnv1a(cellId)}`}`;
    },
  };
}
