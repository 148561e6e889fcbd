/**
 * The training step: gradients from a {@linkcode GradSource}, updates from a {@linkcode GradientTransform}.
 * @module
 */
import type { Batch, Model } from "../models/model.ts";
import { disposeTree } from "../nn/params.ts";
import { applyUpdates } from "../optim/apply.ts";
import { disposeState, type GradientTransform } from "../optim/transform.ts";
import { backprop, type GradSource } from "./grad_source.ts";

/** Options for {@linkcode Trainer}. */
export interface TrainerOptions<S> {
  /** The optimizer, e.g. `adamw({ lr: 3e-3 })`. */
  optimizer: GradientTransform<S>;
  /** Where gradients come from. @default {backprop()} */
  source?: GradSource;
}

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
 * Owns a model's parameters and optimizer state across steps and disposes the old ones, so a run holds a constant
 * number of tensors.
 *
 * @example Usage
 * ```ts ignore
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 3e-3 }) });
 * const { loss } = trainer.step(batch);
 * trainer.dispose();
 * ```
 */
export class Trainer<S> {
  /** The model being trained (its `params` are replaced each step). */
  readonly model: Model;
  /** The optimizer. */
  readonly optimizer: GradientTransform<S>;
  /** The gradient source. */
  readonly source: GradSource;
  /** Optimizer state. */
  state: S;
  /** Steps taken. */
  stepCount = 0;

  /** Creates a trainer and initializes the optimizer state. */
  constructor(model: Model, options: TrainerOptions<S>) {
    this.model = model;
    this.optimizer = options.optimizer;
    this.source = options.source ?? backprop();
    this.state = this.optimizer.init(model.params);
  }

  /** One step: loss and gradients, updates, new parameters and state. */
  step(batch: Batch): StepResult {
    const t0 = performance.now();
    const { loss, grads, savedBytes, forwardBytes } = this.source.lossAndGrads(this.model, batch);
    try {
      if (!Number.isFinite(loss)) throw new RangeError(`Cannot take a training step: the loss is ${loss}`);
      const { updates, state } = this.optimizer.update(grads, this.state, this.model.params, {
        loss,
        step: this.stepCount,
      });
      disposeState(this.state);
      this.state = state;
      this.model.params = applyUpdates(this.model.params, updates);
    } finally {
      disposeTree(grads);
    }
    this.stepCount++;
    return { loss, savedBytes, forwardBytes, ms: performance.now() - t0 };
  }

  /** Frees the optimizer state (the parameters stay with the model). */
  dispose(): void {
    disposeState(this.state);
  }
}
