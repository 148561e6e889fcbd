/**
 * The training loop's owner: holds a model's parameters and the step's state across steps, runs one
 * {@linkcode TrainStep} per batch with an explicit `{ step, seed }` key, and frees whatever a step replaced.
 * @module
 */
import { heapStep } from "../backend/heap_tracker.ts";
import type { TrainStep } from "../nn/grad_source.ts";
import { type Batch, type Model, trainableParams } from "../nn/model.ts";
import type { ForwardKey } from "../nn/policy.ts";
import { disposeReplaced, disposeState, type GradientTransform } from "../optim/transform.ts";
import { backprop } from "./backprop.ts";
import { gradientStep } from "./gradient_step.ts";
import type { GradSource } from "../nn/grad_source.ts";
import { updateInBackward } from "./update_in_backward.ts";

/**
 * How a gradient step applies the optimizer: `"per-param"` (in place, parameter by parameter after backward; the
 * whole set for a global optimizer), `"whole-set"` (every update built before a parameter is replaced: the step as it
 * was before in-place updates) or `"in-backward"` (each parameter as soon as its gradient is final, see
 * `updateInBackward`).
 */
export type UpdateMode = "per-param" | "whole-set" | "in-backward";

/**
 * Options for {@linkcode Trainer}: either an `optimizer` (with an optional gradient `source`, default
 * `backprop()`), which makes the step `gradientStep(source, optimizer)`, or a whole `step` (e.g. MeZO's).
 */
export type TrainerOptions<S> =
  & {
    /** Seed of every pass key (`{ step, seed }`): stochastic policies derive their numbers from it. @default {0} */
    seed?: number;
  }
  & (
    | {
      /** The optimizer, e.g. `adamw({ lr: 3e-3 })`. */
      optimizer: GradientTransform<S>;
      /** Where gradients come from. @default {backprop()} */
      source?: GradSource;
      /** How the optimizer's updates are applied (see {@linkcode UpdateMode}). @default {"per-param"} */
      update?: UpdateMode;
      step?: never;
    }
    | {
      /** A whole training step (the step-level seam). */
      step: TrainStep<S>;
      optimizer?: never;
      source?: never;
      update?: never;
    }
  );

/** What one {@linkcode Trainer.step} reports. */
export interface StepResult {
  /** The batch loss before the update. */
  loss: number;
  /** Bytes saved for backward (policy count). */
  savedBytes: number;
  /** Live bytes the forward added (meter). */
  forwardBytes: number;
  /** Wall time of the step in ms. */
  ms: number;
}

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
  /** Steps taken. */
  stepCount = 0;

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
    const source = o.source ?? backprop();
    this.update = o.step ??
      (update === "in-backward"
        ? updateInBackward(source, o.optimizer!)
        : gradientStep(source, o.optimizer!, { update }));
    this.state = this.update.init(trained);
  }

  /** The key of the next step's passes. */
  get key(): ForwardKey {
    return { step: this.stepCount, seed: this.seed };
  }

  /** One step: runs the step, then frees the old parameters and state it did not reuse. */
  step(batch: Batch): StepResult {
    const t0 = performance.now();
    const oldParams = this.model.params, oldState = this.state;
    // A step of the heap plan: on wasm/blas its blocks are placed by a plan of the first step (heap_arena.ts).
    const r = heapStep(() => {
      const out = this.update.step(this.model, batch, oldState, this.key);
      disposeReplaced(oldState, out.state);
      disposeReplaced(oldParams, out.params);
      return out;
    });
    this.state = r.state;
    this.model.params = r.params;
    this.stepCount++;
    return { loss: r.loss, savedBytes: r.savedBytes, forwardBytes: r.forwardBytes, ms: performance.now() - t0 };
  }

  /** Frees the step's state (the parameters stay with the model). */
  dispose(): void {
    disposeState(this.state);
  }
}
