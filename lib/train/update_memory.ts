/**
 * The analytic count of what the optimizer's update adds to a step's memory, per update mode: the bytes held above the
 * parameters and the optimizer state while the update runs (the activation side is `predictPeakSavedBytes`).
 * @module
 */
import type { Model } from "../nn/model.ts";
import type { UpdateMode } from "./trainer.ts";

/** Options for {@linkcode predictUpdateBytes}. */
export interface UpdateBytesOptions {
  /** How the step applies the updates. */
  mode: UpdateMode;
  /** Optimizer state tensors per parameter, each shaped like it: 2 for Adam/AdamW, 1 for SGD with momentum, 0 without. */
  stateSets: number;
}

/** What {@linkcode predictUpdateBytes} counts. */
export interface UpdateBytes {
  /** Bytes of one parameter set (float32). */
  paramBytes: number;
  /** Bytes held between steps: the parameters and the optimizer state. */
  heldBytes: number;
  /**
   * Bytes the update adds above `heldBytes` at its peak. `"whole-set"`: the gradients, the new state and the updates
   * beside the old ones, `(2 + stateSets)·P` (a fused AdamW; an unfused chain holds one intermediate update more).
   * `"per-param"`: the gradients not yet used plus one parameter's new state and update (or its new value), in the
   * model's order. `"in-backward"` (a bound): no gradient set: at most one trunk layer's parameters, held twice (old and
   * new) or still accumulating gradients, plus one parameter's new state and update; this part overlaps backward's
   * activations instead of following them.
   */
  updateBytes: number;
}

/**
 * Predicts the update's memory for `model` (float32 parameters).
 *
 * @example AdamW on a tiny GPT: the whole-set update holds 4 parameter sets above the parameters and moments
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { predictUpdateBytes } from "./update_memory.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const whole = predictUpdateBytes(gpt, { mode: "whole-set", stateSets: 2 });
 * assert.equal(whole.updateBytes, 4 * whole.paramBytes);
 * const inPlace = predictUpdateBytes(gpt, { mode: "per-param", stateSets: 2 });
 * const inBackward = predictUpdateBytes(gpt, { mode: "in-backward", stateSets: 2 });
 * assert.ok(inBackward.updateBytes < inPlace.updateBytes && inPlace.updateBytes < whole.updateBytes);
 * tf.dispose(Object.values(gpt.params));
 * ```
 * @throws {RangeError} for a negative or non-integer `stateSets`, or an unknown mode.
 */
export function predictUpdateBytes(model: Model, options: UpdateBytesOptions): UpdateBytes {
  const s = options.stateSets;
  if (!Number.isInteger(s) || s < 0) {
    throw new RangeError(`Cannot predict update bytes: 'stateSets' must be an integer >= 0: current value is ${s}`);
  }
  const keys = Object.keys(model.params);
  const bytes = keys.map((k) => 4 * model.params[k].size);
  const P = bytes.reduce((a, b) => a + b, 0);
  const held = (1 + s) * P;
  const largest = Math.max(0, ...bytes);
  let update: number;
  switch (options.mode) {
    case "whole-set":
      update = (2 + s) * P;
      break;
    case "per-param": {
      // Updating parameter i: the gradients i.. still alive, its old and new state and its update; then its gradient
      // and old state go, and its new value is built beside the old one.
      let rest = P;
      update = 0;
      bytes.forEach((b) => {
        update = Math.max(update, rest + (s + 1) * b, rest - b + 2 * b);
        rest -= b;
      });
      break;
    }
    case "in-backward": {
      const layerBytes = model.layers.map((l) =>
        l.paramSpecs().reduce((n, p) => n + 4 * p.shape.reduce((a, b) => a * b, 1), 0)
      );
      // While parameter k of layer L is updated: the old values of L's parameters already updated and the gradients
      // of those not yet final are disjoint parts of L, plus k's new state and update.
      update = Math.max(0, ...layerBytes) + (s + 1) * largest;
      break;
    }
    default:
      throw new RangeError(
        `Cannot predict update bytes: 'mode' must be "per-param", "whole-set" or "in-backward": current value is ${
          String(options.mode)
        }`,
      );
  }
  return { paramBytes: P, heldBytes: held, updateBytes: update };
}
