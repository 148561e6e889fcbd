/**
 * Seam B, where gradients come from, as types: a {@linkcode GradSource} returns a batch's loss and gradients (plain
 * backprop, StreamBP); a {@linkcode TrainStep} owns a whole update step (MeZO: two forward passes and an update, no
 * gradient). They sit beside `Layer` so technique folders implement them without importing `lib/train`, which
 * assembles them into the `Trainer`.
 * @module
 */
import type { Batch, Model } from "./model.ts";
import type { Grads, Params } from "./params.ts";
import type { ForwardKey } from "./policy.ts";
import type { ParamProvider } from "./provider.ts";

/** What a pass runs with besides the model and the batch. */
export interface PassOptions {
  /** The pass's key, which stochastic policies derive their numbers from. @default {DEFAULT_FORWARD_KEY} */
  key?: ForwardKey;
  /** Where the layers read parameters. @default {paramsProvider(model.params)} */
  params?: ParamProvider;
}

/** What a gradient source returns for one batch. The caller owns (and disposes) `grads`. */
export interface LossAndGrads {
  /** The batch loss. */
  loss: number;
  /** Gradients by parameter path. */
  grads: Grads;
  /** Bytes held for backward at the end of forward, as the policies count them. */
  savedBytes: number;
  /** Live bytes (unique buffers + ledger) added by the forward pass, as the meter measured them. */
  forwardBytes: number;
}

/**
 * Produces loss and gradients for a batch (seam B). `lossAndGrads` must leave `model.params` unchanged and leak
 * nothing; the gradients are for the parameters `options.params` reads (the model's by default).
 */
export interface GradSource {
  /** Readable name. */
  readonly name: string;
  /** Runs whatever passes it needs and returns loss and gradients. */
  lossAndGrads(model: Model, batch: Batch, options?: PassOptions): LossAndGrads;
}

/** What one {@linkcode TrainStep.step} returns. */
export interface StepOutcome<S> {
  /** The batch loss (before the update). */
  loss: number;
  /** The parameters after the step: a new map, which may reuse tensors of the old one. */
  params: Params;
  /** The state after the step (may reuse tensors of the old state). */
  state: S;
  /** Bytes held for backward at the end of forward (0 for a forward-only step). */
  savedBytes: number;
  /** Live bytes the forward added, as the meter measured them. */
  forwardBytes: number;
}

/**
 * A whole training step (the step-level seam): MeZO provides one; `gradientStep(source, optimizer)` in `lib/train`
 * is the usual "gradients, then an optimizer" step. The `Trainer` keeps ownership: it holds the parameters and state
 * between steps, and after a step disposes every old parameter or state tensor the outcome does not reuse (a step may
 * dispose old tensors earlier itself, to lower its peak; disposing twice is harmless). The step must not leak.
 */
export interface TrainStep<S = unknown> {
  /** Readable name. */
  readonly name: string;
  /** The state before the first step, for these parameters: the model's trainable ones (`trainableParams`). */
  init(params: Params): S;
  /**
   * One step on `batch` from `model.params` and `state` with the pass key `key`. Throws (and changes nothing the
   * Trainer holds) when the step cannot be taken, e.g. a non-finite loss.
   */
  step(model: Model, batch: Batch, state: S, key: ForwardKey): StepOutcome<S>;
}
