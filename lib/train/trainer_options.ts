/**
 * The options and results of the {@linkcode Trainer} (`trainer.ts`).
 * @module
 */
import type { GradSource, TrainStep } from "../nn/grad_source.ts";
import type { Stateful } from "../nn/stateful.ts";
import type { GradientTransform } from "../optim/transform.ts";

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
    /**
     * State held outside parameters and optimizer (Mesa's `state`, WTA-CRS's `cache`), by name: saved and restored by
     * `Trainer.save` / `Trainer.restore`. @default {{}}
     */
    stateful?: Record<string, Stateful>;
    /**
     * Check every step for non-finite numbers: a gradient step's loss and gradients before the update, a whole step's
     * (or update in backward's) loss and updated parameters after it; one sum per tensor. A bad step throws a
     * `NonFiniteError` naming the step and the first bad parameter or policy. @default {true}
     */
    guard?: boolean;
    /**
     * Skip a non-finite step instead of throwing (AMP-style): parameters and optimizer state stay as they were, the
     * step counts in `stepCount` and `skippedSteps`. For a whole step or update in backward the trainer holds handles
     * on the old parameters and state during the step to put them back (their memory stays until the check). Policy
     * state (Mesa's ranges, WTA-CRS's norms) is not rolled back. @default {false}
     */
    skipNonFinite?: boolean;
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
  /** True when the step was skipped as non-finite (`skipNonFinite`): nothing was updated. */
  skipped?: boolean;
}
