/**
 * The loop of `runLm` and `runClassifier`: a {@linkcode Trainer} over a batch stream, with progress callbacks and the
 * run's checkpoints (every N steps and at the end, atomically, under `checkpoint.dir`; `resume` continues from the
 * newest so the run is bit for bit the uninterrupted one).
 * @module
 */
import { meter } from "../memory/meter.ts";
import type { GradSource } from "../nn/grad_source.ts";
import type { Batch, Model } from "../nn/model.ts";
import type { Stateful, StateTree } from "../nn/stateful.ts";
import type { GradientTransform } from "../optim/transform.ts";
import { CheckpointError } from "../state/errors.ts";
import { disposeBatch } from "./batch.ts";
import { Trainer, type UpdateMode } from "./trainer.ts";

/** What {@linkcode RunOptions.onStep} gets after every training step. */
export interface StepProgress {
  /** Steps done (1-based). */
  step: number;
  /** Steps in the run. */
  steps: number;
  /** This step's training loss (NaN for a skipped step). */
  loss: number;
  /** This step's wall time in ms. */
  ms: number;
  /** Live bytes after the step (the meter's unique buffers plus ledger: parameters, optimizer state, ...). */
  liveBytes: number;
}

/**
 * Where and how often a run (`runLm`, `runClassifier`) writes training-state checkpoints, and whether it continues
 * from one. (Not gradient checkpointing, which is `lib/checkpoint`.)
 *
 * @example Resume a run
 * ```ts ignore
 * const r = runLm({ model, optimizer, data, steps: 1000, batch: 8, context: 64,
 *   checkpoint: { dir: "runs/lm/ckpt", every: 100, resume: true } });
 * ```
 */
export interface RunCheckpointOptions {
  /** The folder of the checkpoints (`step-00000100.safetensors`, ...); created when missing. */
  dir: string;
  /** Steps between checkpoints (one is also written at the end), a positive integer. */
  every: number;
  /**
   * Continue from the newest checkpoint in `dir` (a fresh start when there is none). Without it, a `dir` that holds
   * checkpoints is refused, so nothing is overwritten.
   */
  resume: boolean;
}

/** Common options of `runLm` and `runClassifier`. */
export interface RunOptions<S> {
  /** The model to train (its params are replaced as it trains). */
  model: Model;
  /** Optimizer. */
  optimizer: GradientTransform<S>;
  /** Gradient source (checkpointing, Mesa, ... plug in here). @default {backprop()} */
  source?: GradSource;
  /** How the step applies the optimizer's updates (the Trainer's `update`). @default {"per-param"} */
  update?: UpdateMode;
  /** Training steps. */
  steps: number;
  /** Batch size. */
  batch: number;
  /** Seed of batch sampling. @default {0} */
  seed?: number;
  /** Progress callback every `logEvery` steps. */
  log?: (msg: string) => void;
  /** Steps between progress lines. @default {50} */
  logEvery?: number;
  /** Called after every step (a progress bar, a live plot); no terminal code lives in the library. */
  onStep?: (p: StepProgress) => void;
  /** State outside parameters and optimizer to checkpoint (the Trainer's `stateful`: Mesa's `state`, ...). */
  stateful?: Record<string, Stateful>;
  /** Skip non-finite steps instead of stopping (the Trainer's `skipNonFinite`). @default {false} */
  skipNonFinite?: boolean;
  /** Write checkpoints (and resume from them). @default {none} */
  checkpoint?: RunCheckpointOptions;
}

/** The data position of a run: saved with each checkpoint, put back on resume. */
export interface DataPosition {
  /** The position now (typed arrays and numbers). */
  save(): StateTree;
  /** Continues from a saved position. */
  load(state: StateTree): void;
}

/**
 * The checkpoint file of `step` in `dir`: `step-<8 digits>.safetensors`.
 *
 * @example Usage
 * ```ts
 * import { checkpointPath } from "./train_loop.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkpointPath("runs/a", 120), "runs/a/step-00000120.safetensors");
 * ```
 */
export function checkpointPath(dir: string, step: number): string {
  return `${dir}/step-${String(step).padStart(8, "0")}.safetensors`;
}

/**
 * The steps of the complete checkpoints in `dir` (temp files of interrupted writes are not listed), oldest first;
 * `[]` when `dir` does not exist.
 *
 * @example Usage
 * ```ts
 * import { checkpointPath, listCheckpoints } from "./train_loop.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * Deno.writeFileSync(checkpointPath(dir, 20), new Uint8Array());
 * Deno.writeFileSync(`${dir}/.step-00000030.safetensors.tmp-1-x`, new Uint8Array()); // an interrupted write
 * assert.deepEqual(listCheckpoints(dir), [20]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function listCheckpoints(dir: string): number[] {
  const steps: number[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      const m = e.isFile ? /^step-(\d{8,})\.safetensors$/.exec(e.name) : null;
      if (m) steps.push(Number(m[1]));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return steps.sort((a, b) => a - b);
}

function checkOption(c: RunCheckpointOptions | undefined): RunCheckpointOptions | undefined {
  if (c === undefined) return undefined;
  const fail = (what: string, v: unknown, Err = RangeError) => {
    throw new Err(`Cannot run training: 'checkpoint.${what}: current value is ${JSON.stringify(v) ?? String(v)}`);
  };
  if (c === null || typeof c !== "object") fail("' must be { dir, every, resume }", c, TypeError);
  if (typeof c.dir !== "string" || c.dir === "") fail("dir' must be a non-empty string", c.dir, TypeError);
  if (!Number.isInteger(c.every) || c.every < 1) fail("every' must be a positive integer", c.every);
  if (typeof c.resume !== "boolean") fail("resume' must be a boolean", c.resume, TypeError);
  return c;
}

/** What the loop hands back to the run. */
export interface LoopResult<S> {
  trainer: Trainer<S>;
  losses: number[];
  ms: number[];
  peak: number;
  saved: number;
}

/**
 * Runs `opts.steps` steps of a new Trainer on `nextBatch()`, writing checkpoints per `opts.checkpoint` (with `config`,
 * which a resumed run must match, and `data`'s position).
 */
export function trainLoop<S>(
  opts: RunOptions<S>,
  nextBatch: () => Batch,
  data: DataPosition,
  config: Record<string, number | string>,
): LoopResult<S> {
  if (!Number.isInteger(opts.steps) || opts.steps <= 0) {
    throw new RangeError(`Cannot run training: 'steps' must be a positive integer: current value is ${opts.steps}`);
  }
  const ck = checkOption(opts.checkpoint);
  const trainer = new Trainer(opts.model, {
    optimizer: opts.optimizer,
    ...(opts.source ? { source: opts.source } : {}),
    ...(opts.update ? { update: opts.update } : {}),
    ...(opts.stateful ? { stateful: opts.stateful } : {}),
    ...(opts.skipNonFinite !== undefined ? { skipNonFinite: opts.skipNonFinite } : {}),
  });
  const m = meter();
  let losses: number[] = [], ms: number[] = [];
  let peak = 0, saved = 0;
  if (ck) {
    const found = listCheckpoints(ck.dir);
    const newest = found.at(-1);
    if (newest !== undefined && !ck.resume) {
      throw new RangeError(
        `Cannot run training: 'checkpoint.dir' ${ck.dir} already holds checkpoints (newest: step ${newest}); pass ` +
          "'resume: true' to continue, or use an empty folder",
      );
    }
    if (newest !== undefined) {
      const path = checkpointPath(ck.dir, newest);
      trainer.restore(path, (run) => {
        const was = JSON.parse(String((run.config as { json?: string } | undefined)?.json ?? "{}"));
        for (const k of new Set([...Object.keys(was), ...Object.keys(config)])) {
          if (was[k] !== config[k]) {
            throw new CheckpointError(path, `its run has ${k} = ${was[k]}, this run ${config[k]}`);
          }
        }
        if (newest > opts.steps) throw new CheckpointError(path, `it is at step ${newest}, past 'steps' ${opts.steps}`);
        const { losses: l, ms: t, stats } = run;
        if (!(l instanceof Float64Array && t instanceof Float64Array && stats instanceof Float64Array)) {
          throw new CheckpointError(path, "its run state has no losses, times and stats");
        }
        try {
          data.load(run.data);
        } catch (e) {
          throw new CheckpointError(path, `its data position does not load: ${(e as Error).message}`, { cause: e });
        }
        [losses, ms, [peak, saved]] = [Array.from(l), Array.from(t), Array.from(stats)];
      });
    }
    Deno.mkdirSync(ck.dir, { recursive: true });
  }
  const write = () => {
    trainer.save(checkpointPath(ck!.dir, trainer.stepCount), {
      config: { json: JSON.stringify(config) },
      losses: Float64Array.from(losses),
      ms: Float64Array.from(ms),
      stats: Float64Array.of(peak, saved),
      data: data.save(),
    });
    for (const old of listCheckpoints(ck!.dir).slice(0, -2)) Deno.removeSync(checkpointPath(ck!.dir, old));
  };
  for (let i = trainer.stepCount; i < opts.steps; i++) {
    const batch = nextBatch();
    m.resetPeak();
    let r;
    try {
      r = trainer.step(batch);
    } finally {
      disposeBatch(batch);
    }
    peak = Math.max(peak, m.peak);
    losses.push(r.loss);
    ms.push(r.ms);
    saved = Math.max(saved, r.savedBytes);
    opts.onStep?.({ step: i + 1, steps: opts.steps, loss: r.loss, ms: r.ms, liveBytes: m.live });
    if (opts.log && ((i + 1) % (opts.logEvery ?? 50) === 0 || i === 0)) {
      opts.log(`step ${i + 1}/${opts.steps} loss ${r.loss.toFixed(4)} ${r.ms.toFixed(0)} ms`);
    }
    if (ck && ((i + 1) % ck.every === 0 || i + 1 === opts.steps)) write();
  }
  return { trainer, losses, ms, peak, saved };
}
