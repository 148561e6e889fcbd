/**
 * The training loop's owner: holds a model's parameters and the step's state across steps, runs one
 * {@linkcode TrainStep} per batch with an explicit `{ step, seed }` key, and frees whatever a step replaced.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { heapStep } from "../backend/heap_tracker.ts";
import type { TrainStep } from "../nn/grad_source.ts";
import { type Batch, type Model, trainableParams } from "../nn/model.ts";
import type { ForwardKey } from "../nn/policy.ts";
import { disposeReplaced, disposeState, type GradientTransform } from "../optim/transform.ts";
import { backprop } from "./backprop.ts";
import { gradientStep } from "./gradient_step.ts";
import type { GradSource } from "../nn/grad_source.ts";
import { updateInBackward } from "./update_in_backward.ts";
import type { StepResult, TrainerOptions, UpdateMode } from "./trainer_options.ts";

export type { StepResult, TrainerOptions, UpdateMode } from "./trainer_options.ts";
import type { Stateful, StateTree } from "../nn/stateful.ts";
import { cloneTree, diagnose, firstNonFinite, guardedSource, NonFiniteError } from "./guard.ts";
import { restoreTrainer, saveTrainer } from "./trainer_state.ts";

/**
 * Owns a model's parameters and the step's state across steps and disposes what each step replaces, so a run holds
 * a constant number of tensors. Step `i` runs with the key `{ step: i, seed }`.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Trainer } from "./trainer.ts";
 * import { adamw } from "../optim/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const { loss } = trainer.step(batch);
 * assert.ok(Number.isFinite(loss) && trainer.stepCount === 1);
 * trainer.dispose();
 * tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
 * ```
 */
export class Trainer<S> {
  /** The model being trained (its `params` are replaced each step). */
  readonly model: Model;
  /** The step run on each batch. */
  readonly update: TrainStep<S>;
  /** The seed of every pass key. */
  readonly seed: number;
  /** The step's state (the optimizer state for a gradient step). */
  state: S;
  /** Steps taken (skipped ones included). */
  stepCount = 0;
  /** Steps skipped as non-finite (`skipNonFinite`). */
  skippedSteps = 0;
  /** The stateful pieces saved with the trainer, by name. */
  readonly stateful: Readonly<Record<string, Stateful>>;
  readonly #guard: boolean;
  readonly #skip: boolean;
  /** True when the gradient source checks loss and gradients before the update. */
  readonly #preChecked: boolean;

  /**
   * Creates a trainer and initializes the step's state for the model's trainable parameters (`model.trainable`).
   * @throws {TypeError} when neither `optimizer` nor `step` is given, or both are; {RangeError} for a bad `seed` or
   * a model that freezes every parameter.
   */
  constructor(model: Model, options: TrainerOptions<S>) {
    const o = options as {
      optimizer?: GradientTransform<S>;
      source?: GradSource;
      step?: TrainStep<S>;
      update?: UpdateMode;
    };
    if ((o.step === undefined) === (o.optimizer === undefined)) {
      throw new TypeError("Cannot create Trainer: give exactly one of 'optimizer' (with 'source') or 'step'");
    }
    if (o.step !== undefined && (o.source !== undefined || o.update !== undefined)) {
      throw new TypeError("Cannot create Trainer: 'source' and 'update' are part of 'step'; give one or the other");
    }
    const update = o.update ?? "per-param";
    if (update !== "per-param" && update !== "whole-set" && update !== "in-backward") {
      throw new RangeError(
        `Cannot create Trainer: 'update' must be "per-param", "whole-set" or "in-backward": current value is ${
          String(update)
        }`,
      );
    }
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Cannot create Trainer: 'seed' must be a safe integer: current value is ${seed}`);
    }
    this.model = model;
    this.seed = seed;
    const trained = trainableParams(model);
    if (Object.keys(trained).length === 0) {
      throw new RangeError("Cannot create Trainer: the model's 'trainable' predicate freezes every parameter");
    }
    const stateful = options.stateful ?? {};
    if (stateful === null || typeof stateful !== "object") {
      throw new TypeError(
        `Cannot create Trainer: 'stateful' must be a record of Stateful: current value is ${stateful}`,
      );
    }
    for (const [k, v] of Object.entries(stateful)) {
      if (typeof v?.stateDict !== "function" || typeof v?.loadStateDict !== "function") {
        throw new TypeError(`Cannot create Trainer: 'stateful.${k}' must have stateDict() and loadStateDict()`);
      }
    }
    this.stateful = { ...stateful };
    for (const key of ["guard", "skipNonFinite"] as const) {
      const v = options[key];
      if (v !== undefined && typeof v !== "boolean") {
        throw new TypeError(`Cannot create Trainer: '${key}' must be a boolean: current value is ${String(v)}`);
      }
    }
    this.#skip = options.skipNonFinite ?? false;
    this.#guard = this.#skip || (options.guard ?? true);
    this.#preChecked = this.#guard && o.step === undefined && update !== "in-backward";
    const plain = o.source ?? backprop();
    const source = this.#preChecked ? guardedSource(plain, () => ({ step: this.stepCount })) : plain;
    this.update = o.step ??
      (update === "in-backward"
        ? updateInBackward(plain, o.optimizer!)
        : gradientStep(source, o.optimizer!, { update }));
    this.state = this.update.init(trained);
  }

  /** The key of the next step's passes. */
  get key(): ForwardKey {
    return { step: this.stepCount, seed: this.seed };
  }

  /**
   * One step: runs the step, then frees the old parameters and state it did not reuse. With the guard (the default) a
   * non-finite step throws a {@linkcode NonFiniteError} or, with `skipNonFinite`, is skipped.
   */
  step(batch: Batch): StepResult {
    const t0 = performance.now();
    const oldParams = this.model.params, oldState = this.state;
    const post = this.#guard && !this.#preChecked;
    const backup = post && this.#skip
      ? { params: cloneTree(trainableParams(this.model)), state: cloneTree(oldState) }
      : undefined;
    let r;
    try {
      // A step of the heap plan: on wasm/blas its blocks are placed by a plan of the first step (heap_arena.ts).
      r = heapStep(() => {
        const out = this.update.step(this.model, batch, oldState, this.key);
        disposeReplaced(oldState, out.state);
        disposeReplaced(oldParams, out.params);
        return out;
      });
    } catch (e) {
      return this.#failed(e, backup, t0);
    }
    this.state = r.state;
    this.model.params = r.params;
    if (post) {
      const bad = Number.isFinite(r.loss) ? firstNonFinite(trainableParams(this.model)) : "loss";
      if (bad !== undefined) {
        const e = bad === "loss"
          ? diagnose(this.stepCount, this.model.params, this.stateful, ` (loss ${r.loss})`)
          : new NonFiniteError(this.stepCount, "parameter", bad);
        return this.#failed(e, backup, t0);
      }
    }
    if (backup) disposeState(backup);
    this.stepCount++;
    return { loss: r.loss, savedBytes: r.savedBytes, forwardBytes: r.forwardBytes, ms: performance.now() - t0 };
  }

  /** A step that threw or came out non-finite: skip it (putting back `backup`) or throw. */
  #failed(e: unknown, backup: { params: Record<string, tf.Tensor>; state: S } | undefined, t0: number): StepResult {
    const nonFinite = e instanceof NonFiniteError ||
      (e instanceof RangeError && this.#guard && /\b(NaN|-?Infinity)\b/.test(e.message));
    if (!this.#skip || !nonFinite) {
      if (backup) disposeState(backup);
      if (!(e instanceof NonFiniteError) && nonFinite) {
        throw diagnose(this.stepCount, this.model.params, this.stateful, ` (${(e as Error).message})`);
      }
      throw e;
    }
    if (backup) {
      // Put back the old parameters and state (the step's new tensors go; the clones hold the old buffers).
      const params = { ...this.model.params };
      for (const [k, t] of Object.entries(backup.params)) {
        if (params[k] !== t && !params[k].isDisposed) params[k].dispose();
        params[k] = t;
      }
      disposeReplaced(this.state, backup.state);
      this.model.params = params;
      this.state = backup.state;
    }
    this.stepCount++;
    this.skippedSteps++;
    return { loss: NaN, savedBytes: 0, forwardBytes: 0, ms: performance.now() - t0, skipped: true };
  }

  /**
   * Saves the trainer to `path` (a safetensors checkpoint, written atomically: see `lib/state`): the model's
   * parameters, the step's state, each `stateful` piece's state, `{ step, seed }`, and `run` (the caller's own state,
   * e.g. the data position). Refuses, writing nothing, when a parameter is not finite.
   *
   * @example Save and restore
   * ```ts
   * import * as tf from "@tensorflow/tfjs";
   * import { Trainer } from "./trainer.ts";
   * import { adamw } from "../optim/mod.ts";
   * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
   * import assert from "node:assert/strict";
   *
   * const cfg = { ...GPT_PRESETS.tiny, vocab: 16 };
   * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
   * const a = new Trainer(createGpt(cfg, { seed: 0 }), { optimizer: adamw({ lr: 1e-2 }) });
   * a.step(batch);
   * const path = Deno.makeTempFileSync({ suffix: ".safetensors" });
   * a.save(path);
   * const b = new Trainer(createGpt(cfg, { seed: 1 }), { optimizer: adamw({ lr: 1e-2 }) });
   * b.restore(path);
   * assert.equal(b.stepCount, 1);
   * assert.equal(a.step(batch).loss, b.step(batch).loss); // bit for bit
   * Deno.removeSync(path);
   * ```
   * @throws {NonFiniteError} when a parameter is not finite.
   */
  save(path: string, run: Record<string, StateTree> = {}): void {
    saveTrainer(this, path, run);
  }

  /**
   * Restores a checkpoint written by {@linkcode Trainer.save} into this trainer (same model shapes, optimizer,
   * stateful pieces and seed): trainable parameters, state and counters are replaced (a frozen parameter is kept when
   * the file holds its bits, as LoRA's base shared with the base model); on any error nothing changes. `check`
   * sees the saved run state before anything is replaced and may refuse it by throwing.
   *
   * @returns The `run` state saved with it (its tensors, if any, belong to the caller).
   * @throws {CheckpointError} when the file is unreadable, truncated, corrupt or does not match (naming what).
   */
  restore(path: string, check?: (run: Record<string, StateTree>) => void): Record<string, StateTree> {
    return restoreTrainer(this, path, check);
  }

  /** Frees the step's state (the parameters stay with the model). */
  dispose(): void {
    disposeState(this.state);
  }
}
