/**
 * Whole-model gradient oracle: `tf.grads` of the model's own forward + loss, compared with a GradSource.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Model } from "../../lib/nn/model.ts";
import { Context, SavedStore } from "../../lib/nn/context.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import type { GradSource } from "../../lib/nn/grad_source.ts";
import { maxRelError } from "./assert_close.ts";

/** Loss and max relative gradient error per parameter of `source` against tf.grads. */
export function modelGradErrors(
  model: Model,
  batch: Batch,
  source: GradSource,
): { loss: number; oracleLoss: number; errors: Record<string, number> } {
  const names = Object.keys(model.params);
  const { loss, grads } = source.lossAndGrads(model, batch);
  const store = new SavedStore();
  const trunk = new Sequence("", model.layers.slice());
  let oracleLoss = NaN;
  const errors: Record<string, number> = {};
  tf.tidy(() => {
    const f = (...ps: tf.Tensor[]) => {
      const params: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => (params[n] = ps[i]));
      const ctx = new Context({ params, store });
      const logits = trunk.forward(batch.x, ctx);
      return model.loss.forward(logits, batch.y, ctx.child("loss"), batch.weights);
    };
    const { value, grads: oracle } = tf.valueAndGrads(f)(names.map((n) => model.params[n]));
    oracleLoss = value.dataSync()[0];
    names.forEach((n, i) => (errors[n] = grads[n] ? maxRelError(grads[n], oracle[i]) : Infinity));
  });
  store.dispose();
  Object.values(grads).forEach((g) => g.dispose());
  return { loss, oracleLoss, errors };
}
