import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initParams } from "../../lib/models/init.ts";
import { customGradLayer, TransformerBlock } from "../../lib/nn/mod.ts";
import { Context } from "../../lib/nn/context.ts";
import { assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

testOnBackends("customGradLayer() runs a block inside tf.grads with its explicit backward", async () => {
  const block = new TransformerBlock("b", { dim: 8, heads: 2 });
  const params = initParams(block.paramSpecs(), 1);
  const names = Object.keys(params);
  await assertNoLeaks(() => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 4, 8], 0, 1, "float32", 2);
      const { fn } = customGradLayer(block, names);
      // A tfjs expression around the bridged layer: loss = sum(tanh(block(x)))
      const viaBridge = tf.grads((xi: tf.Tensor, ...ps: tf.Tensor[]) => tf.sum(tf.tanh(fn(xi, ...ps))))([
        x,
        ...names.map((n) => params[n]),
      ]);
      const viaAutodiff = tf.grads((xi: tf.Tensor, ...ps: tf.Tensor[]) => {
        const p: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => (p[n] = ps[i]));
        const ctx = new Context({ params: p });
        const out = tf.sum(tf.tanh(block.forward(xi, ctx)));
        ctx.store.dispose();
        return out;
      })([x, ...names.map((n) => params[n])]);
      viaBridge.forEach((g, i) => assert.ok(maxRelError(g, viaAutodiff[i]) <= 1e-4, `grad ${i}`));
    });
  });
  Object.values(params).forEach((p) => p.dispose());
});
