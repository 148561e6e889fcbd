/**
 * The usual training step: gradients from a {@linkcode GradSource}, updates from a {@linkcode GradientTransform}.
 * @module
 */
import type { GradSource, TrainStep } from "../nn/grad_source.ts";
import { trainableParams } from "../nn/model.ts";
import { disposeTree } from "../nn/params.ts";
import { applyUpdates } from "../optim/apply.ts";
import { disposeState, type GradientTransform } from "../optim/transform.ts";

/**
 * A {@linkcode TrainStep} that takes loss and gradients from `source` and applies `optimizer`'s updates to the model's
 * trainable parameters (`model.trainable`; frozen ones keep their tensors and have no optimizer state). Order (which
 * sets the step's memory peak): gradients; the optimizer's update; the old optimizer state is freed; the new
 * parameters are built and the old ones freed; the gradients are freed. A non-finite loss throws a RangeError before
 * anything is updated.
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
export function gradientStep<S>(source: GradSource, optimizer: GradientTransform<S>): TrainStep<S> {
  return {
    name: `gradientStep(${source.name})`,
    init: (params) => optimizer.init(params),
    step(model, batch, state, key) {
      const { loss, grads, savedBytes, forwardBytes } = source.lossAndGrads(model, batch, { key });
      try {
        if (!Number.isFinite(loss)) throw new RangeError(`Cannot take a training step: the loss is ${loss}`);
        const trained = trainableParams(model); // frozen parameters get no update and are passed on as they are
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
