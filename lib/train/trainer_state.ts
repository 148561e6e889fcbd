/**
 * What `Trainer.save` writes and `Trainer.restore` reads: the model's parameters, the step's state (the optimizer's
 * tree), every stateful piece's `stateDict()`, the caller's run state (data position, losses) and the `{ step, seed }`
 * counters, in one checkpoint file (`lib/state`), with every part checked against the trainer on restore.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Model, trainableParams } from "../nn/model.ts";
import type { Params } from "../nn/params.ts";
import type { Stateful, StateTree } from "../nn/stateful.ts";
import { disposeState } from "../optim/transform.ts";
import { CheckpointError } from "../state/errors.ts";
import { disposeTreeTensors, readStateFile, writeStateFile } from "../state/file.ts";
import { firstNonFinite, NonFiniteError } from "./guard.ts";

/** The parts of a `Trainer` a checkpoint saves and restores. */
export interface TrainerParts {
  /** The model (its `params` are saved and replaced). */
  readonly model: Model;
  /** The step's state. */
  state: unknown;
  /** Steps taken. */
  stepCount: number;
  /** Steps skipped as non-finite. */
  skippedSteps: number;
  /** The pass keys' seed (must match on restore). */
  readonly seed: number;
  /** The stateful pieces by name. */
  readonly stateful: Readonly<Record<string, Stateful>>;
}

function sameBits(a: tf.Tensor, b: tf.Tensor): boolean {
  if (a.dtype !== b.dtype || a.size !== b.size) return false;
  const x = a.dataSync(), y = b.dataSync();
  const u = new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
    v = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  return u.length === v.length && u.every((byte, i) => byte === v[i]);
}

/** Tensor paths of a tree with dtype and shape, for comparing structures. */
function signature(x: unknown, path = "", out = new Map<string, string>()): Map<string, string> {
  if (x instanceof tf.Tensor) out.set(path || "/", `${x.dtype} [${x.shape}]`);
  else if (ArrayBuffer.isView(x)) out.set(path || "/", x.constructor.name);
  else if (Array.isArray(x)) x.forEach((v, i) => signature(v, `${path}/${i}`, out));
  else if (x !== null && typeof x === "object") {
    for (const [k, v] of Object.entries(x)) signature(v, `${path}/${k}`, out);
  }
  return out;
}

/** The differences between two signatures, for a message (at most 4 listed). */
function differences(file: Map<string, string>, here: Map<string, string>, what: string): string | undefined {
  const out: string[] = [];
  for (const [k, v] of here) {
    const f = file.get(k);
    if (f === undefined) out.push(`'${k}' is missing from the file`);
    else if (f !== v) out.push(`'${k}' is ${f} in the file, ${v} ${what}`);
  }
  for (const k of file.keys()) if (!here.has(k)) out.push(`'${k}' is in the file but not ${what}`);
  if (out.length === 0) return undefined;
  return out.slice(0, 4).join("; ") + (out.length > 4 ? `; and ${out.length - 4} more` : "");
}

/**
 * Writes the trainer's state to `path` atomically. Refuses (writing nothing) when a parameter is not finite.
 *
 * @throws {NonFiniteError} when a parameter holds a NaN or an infinity.
 */
export function saveTrainer(t: TrainerParts, path: string, run: Record<string, StateTree> = {}): void {
  const bad = firstNonFinite(t.model.params);
  if (bad !== undefined) throw new NonFiniteError(t.stepCount, "parameter", bad, " (no checkpoint written)");
  const dicts: Record<string, StateTree> = {};
  try {
    for (const [k, s] of Object.entries(t.stateful)) dicts[k] = s.stateDict();
    writeStateFile(path, {
      tree: { params: t.model.params, state: t.state as StateTree, stateful: dicts, run },
      meta: { step: t.stepCount, seed: t.seed, skipped: t.skippedSteps },
    });
  } finally {
    disposeState(dicts);
  }
}

/**
 * Reads `path` into the trainer: checks the seed, the parameters' names and shapes against the model, the state's
 * tensors against the trainer's, and the stateful pieces' names, then replaces parameters, state, counters and each
 * piece's state. On any error nothing is changed; `check` may refuse the run state first (by throwing).
 *
 * @returns The run state saved with it (`run` of {@linkcode saveTrainer}); its tensors belong to the caller.
 * @throws {CheckpointError} for an unreadable, corrupt or mismatching checkpoint (the message says what differs).
 */
export function restoreTrainer(
  t: TrainerParts,
  path: string,
  check?: (run: Record<string, StateTree>) => void,
): Record<string, StateTree> {
  const file = readStateFile(path);
  const { params, state, stateful, run } = file.tree as Record<string, StateTree>;
  const before: Record<string, StateTree> = {};
  const loaded: string[] = [];
  try {
    const { step, seed, skipped } = file.meta as { step?: unknown; seed?: unknown; skipped?: unknown };
    if (!Number.isSafeInteger(step) || (step as number) < 0 || !Number.isSafeInteger(skipped)) {
      throw new CheckpointError(path, `the metadata's step ${String(step)} or skipped ${String(skipped)} is not valid`);
    }
    if (seed !== t.seed) throw new CheckpointError(path, `its seed is ${String(seed)}, the trainer's is ${t.seed}`);
    const p = differences(signature(params), signature(t.model.params), "in the model");
    if (p) throw new CheckpointError(path, `the parameters do not match the model: ${p}`);
    const s = differences(signature(state), signature(t.state), "in the trainer's state");
    if (s) throw new CheckpointError(path, `the step's state does not match the trainer's: ${s}`);
    const names = Object.keys((stateful ?? {}) as object), want = Object.keys(t.stateful);
    if (names.join("\n") !== want.join("\n")) {
      throw new CheckpointError(
        path,
        `its stateful pieces are [${names.join(", ")}], the trainer's are [${want.join(", ")}]`,
      );
    }
    check?.((run ?? {}) as Record<string, StateTree>);
    for (const k of want) before[k] = t.stateful[k].stateDict();
    for (const k of want) {
      try {
        t.stateful[k].loadStateDict((stateful as Record<string, StateTree>)[k]);
        loaded.push(k);
      } catch (e) {
        throw new CheckpointError(path, `the state of '${k}' does not load: ${(e as Error).message}`, { cause: e });
      }
    }
  } catch (e) {
    for (const k of loaded) t.stateful[k].loadStateDict(before[k]);
    disposeState(before);
    disposeTreeTensors(file.tree);
    throw e;
  }
  disposeState(before);
  disposeTreeTensors(stateful);
  // Trainable parameters are the trainer's: replaced, the old ones freed. Frozen ones may be shared (LoRA's base
  // with the base model): kept when the file holds the same bits, else replaced and the old tensors left to the caller.
  const old = t.model.params,
    next = { ...(params as Params) },
    trained = new Set(Object.keys(trainableParams(t.model)));
  for (const k of Object.keys(old)) {
    if (trained.has(k)) old[k].dispose();
    else if (sameBits(old[k], next[k])) {
      next[k].dispose();
      next[k] = old[k];
    }
  }
  t.model.params = next;
  disposeState(t.state);
  t.state = state;
  t.stepCount = file.meta.step as number;
  t.skippedSteps = file.meta.skipped as number;
  return (run ?? {}) as Record<string, StateTree>;
}
