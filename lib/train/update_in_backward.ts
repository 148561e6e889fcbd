/**
 * Update in backward (after LOMO and PyTorch's optimizer-in-backward): each parameter is updated as soon as its
 * gradient is final during backward, so the whole gradient set never exists. The optimizer runs parameter by
 * parameter (`lib/optim/separable.ts`); a global transform such as `clipByGlobalNorm` is refused with a clear error.
 * The pass is backprop's own, run with gradient hooks (`lib/train/grad_final.ts` says when a gradient is final and
 * when backward reads a parameter no more): at most one trunk layer's parameters are held twice. Frozen parameters
 * (`model.trainable`, e.g. LoRA's base weights) get no gradient, no state and no update, as in the standard step.
 * @module
 */
import type { GradSource, TrainStep } from "../nn/grad_source.ts";
import { type Batch, type Model, trainableParams } from "../nn/model.ts";
import type { Params } from "../nn/params.ts";
import { checkSeparable, ParamUpdater } from "../optim/separable.ts";
import type { GradientTransform } from "../optim/transform.ts";
import { backpropPassOf } from "./backprop.ts";

/**
 * A {@linkcode TrainStep} that updates each parameter with `optimizer` as soon as its gradient is final in the
 * backward of `source` (which must be {@linkcode backprop}: its selector and trunk transform, e.g. checkpointing and
 * Mesa, are kept). Each gradient is freed right after its parameter's update, and that parameter's old state tensors
 * with it; the parameters after N steps equal the standard step's bit for bit (the same ops run per element).
 *
 * A non-finite loss throws before anything is updated; an error later in backward leaves the parameters and state
 * partly updated (their old tensors freed), so the run should stop.
 *
 * @param source A `backprop(...)` gradient source.
 * @param optimizer A separable optimizer (AdamW, Adam, SGD, weight decay, schedules).
 * @throws {TypeError} when `source` is not a backprop source, or the optimizer has a global transform (the message
 *   names it and the alternatives).
 *
 * @example AdamW, updated in backward
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { updateInBackward } from "./update_in_backward.ts";
 * import { backprop } from "./backprop.ts";
 * import { Trainer } from "./trainer.ts";
 * import { adamw } from "../optim/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const trainer = new Trainer(gpt, { step: updateInBackward(backprop(), adamw({ lr: 1e-2 })) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const first = trainer.step(batch).loss;
 * assert.ok(trainer.step(batch).loss < first);
 * trainer.dispose();
 * tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
 * ```
 */
export function updateInBackward<S>(source: GradSource, optimizer: GradientTransform<S>): TrainStep<S> {
  const pass = backpropPassOf(source);
  if (!pass) {
    throw new TypeError(
      `Cannot update in backward: the gradient source must be backprop(...) (the step runs its passes to see each ` +
        `gradient become final): current source is '${source.name}'`,
    );
  }
  checkSeparable(optimizer as GradientTransform<unknown>, "update in backward");
  return {
    name: `updateInBackward(${source.name})`,
    init: (params) => optimizer.init(params),
    step(model: Model, batch: Batch, state: S, key) {
      const old = model.params, keys = Object.keys(trainableParams(model));
      const next: Params = {};
      let updater: ParamUpdater<S> | undefined;
      try {
        const { loss, savedBytes, forwardBytes } = pass(model, batch, { key }, {
          beforeBackward(loss) {
            if (!Number.isFinite(loss)) throw new RangeError(`Cannot take a training step: the loss is ${loss}`);
            updater = new ParamUpdater(optimizer, state, keys, { loss, step: key.step });
          },
          final(k, g) {
            next[k] = updater!.update(k, g, old[k], true);
          },
          released(k) {
            old[k].dispose(); // the new value exists and backward reads the old one no more
          },
        });
        const newState = updater!.finish();
        // Frozen parameters are passed on as they are.
        const params = Object.fromEntries(Object.keys(old).map((k) => [k, next[k] ?? old[k]]));
        return { loss, params, state: newState, savedBytes, forwardBytes };
      } catch (e) {
        for (const t of Object.values(next)) t.dispose();
        throw e;
      }
    },
  };
}
