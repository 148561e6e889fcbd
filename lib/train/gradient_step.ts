/**
 * The usual training step: gradients from a {@linkcode GradSource}, updates from a {@linkcode GradientTransform}.
 * @module
 */
import type { GradSource, TrainStep } from "../nn/grad_source.ts";
import { trainableParams } from "../nn/model.ts";
import { disposeTree } from "../nn/params.ts";
import { applyUpdates } from "../optim/apply.ts";
import { globalTransforms, ParamUpdater } from "../optim/separable.ts";
import { disposeState, type GradientTransform } from "../optim/transform.ts";

/** Options for {@linkcode gradientStep}. */
export interface GradientStepOptions {
  /**
   * How the optimizer's update is applied. `"per-param"` (for a separable optimizer; otherwise it falls back to
   * `"whole-set"`): parameter by parameter, each old parameter, its old state tensors and its gradient freed as soon
   * as its new values exist, so the step never holds two parameter sets or two optimizer states. `"whole-set"`: the
   * optimizer updates every parameter at once (new state and all updates beside the old ones), then the parameters
   * are replaced tensor by tensor: the step as it was before the in-place update (for comparisons).
   * @default {"per-param"}
   */
  update?: "per-param" | "whole-set";
}

/**
 * A {@linkcode TrainStep} that takes loss and gradients from `source` and applies `optimizer`'s updates to the model's
 * trainable parameters (`model.trainable`; frozen ones keep their tensors and have no optimizer state). Order (which
 * sets the step's memory peak), per parameter for a separable optimizer (`update: "per-param"`, the default): the
 * gradients; then for each parameter its update, its new state and new value, and its old value, old state and
 * gradient are freed at once. For a global optimizer (or `update: "whole-set"`): the optimizer's update of the whole
 * set; the old optimizer state is freed; the parameters are replaced tensor by tensor; the gradients are freed. A
 * non-finite loss throws a RangeError before anything is updated.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gradientStep } from "./gradient_step.ts";
 * import { backprop } from "./backprop.ts";
 * import { Trainer } from "./trainer.ts";
 * import { sgd } from "../optim/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const trainer = new Trainer(gpt, { step: gradientStep(backprop(), sgd({ lr: 0.1 })) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const first = trainer.step(batch).loss;
 * assert.ok(trainer.step(batch).loss < first);
 * trainer.dispose();
 * tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
 * ```
 */
export function gradientStep<S>(
  source: GradSource,
  optimizer: GradientTransform<S>,
  options: GradientStepOptions = {},
): TrainStep<S> {
  const mode = options.update ?? "per-param";
  if (mode !== "per-param" && mode !== "whole-set") {
    throw new RangeError(
      `Cannot create gradientStep: 'update' must be "per-param" or "whole-set": current value is ${String(mode)}`,
    );
  }
  const perParam = mode === "per-param" && globalTransforms(optimizer as GradientTransform<unknown>).length === 0;
  return {
    name: `gradientStep(${source.name})`,
    init: (params) => optimizer.init(params),
    step(model, batch, state, key) {
      const { loss, grads, savedBytes, forwardBytes } = source.lossAndGrads(model, batch, { key });
      try {
        if (!Number.isFinite(loss)) throw new RangeError(`Cannot take a training step: the loss is ${loss}`);
        const trained = trainableParams(model); // frozen parameters get no update and are passed on as they are
        if (perParam) {
          const old = model.params, keys = Object.keys(trained);
          for (const k of keys) {
            if (!grads[k]) throw new TypeError(`Cannot take a training step: no gradient for parameter '${k}'`);
          }
          const extra = Object.keys(grads).find((k) => !Object.hasOwn(trained, k));
          if (extra !== undefined) {
            throw new TypeError(
              `Cannot take a training step: a gradient for '${extra}', which is not a trained parameter`,
            );
          }
          const updater = new ParamUpdater(optimizer, state, keys, { loss, step: key.step });
          const params: typeof old = { ...old };
          for (const k of keys) {
            params[k] = updater.update(k, grads[k], old[k], true);
            old[k].dispose(); // in place: the old value goes as soon as the new one exists
          }
          return { loss, params, state: updater.finish(), savedBytes, forwardBytes };
        }
        const next = optimizer.update(grads, state, trained, { loss, step: key.step });
        disposeState(state);
        const params = { ...model.params, ...applyUpdates(trained, next.updates) };
        return { loss, params, state: next.state, savedBytes, forwardBytes };
      } finally {
        disposeTree(grads);
      }
    },
  };
}
