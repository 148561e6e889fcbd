import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initParams } from "../../lib/models/init.ts";
import {
  Embedding,
  Gelu,
  LayerNorm,
  Linear,
  PatchEmbedding,
  PoolHead,
  SelfAttention,
  Sequence,
  TransformerBlock,
} from "../../lib/nn/mod.ts";
import type { Layer } from "../../lib/nn/layer.ts";
import { Context } from "../../lib/nn/context.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertGradErrors, layerGradErrors } from "../_util/grad_check.ts";

function paramsOf(layer: Layer, seed = 3) {
  // Perturb the ones/zeros inits so LayerNorm gains and biases are exercised.
  const base = initParams(layer.paramSpecs(), seed);
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(base)) {
    out[k] = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", seed + k.length)));
    v.dispose();
  }
  return out;
}

/** Max relative error bound of the gradient checks: measured worst 4.0e-7 over every layer and backend. */
const GRAD_TOL = 1e-5;

function check(layer: Layer, x: tf.Tensor, inputGrad: boolean | undefined, tol = GRAD_TOL) {
  const params = paramsOf(layer);
  try {
    assertGradErrors(layerGradErrors(layer, x, params, inputGrad === undefined ? {} : { inputGrad }), tol);
  } finally {
    Object.values(params).forEach((p) => p.dispose());
  }
}

/** Name, layer, input, and (for a first layer whose float input needs no gradient) `inputGrad: false`. */
const cases: [string, () => Layer, () => tf.Tensor, boolean?][] = [
  ["Linear", () => new Linear("fc", 12, 7), () => tf.randomNormal([2, 5, 12], 0, 1, "float32", 1)],
  ["LayerNorm", () => new LayerNorm("ln", 16), () => tf.randomNormal([3, 4, 16], 0.5, 2, "float32", 2)],
  ["Gelu", () => new Gelu("gelu"), () => tf.randomNormal([4, 9], 0, 2, "float32", 3)],
  [
    "Embedding",
    () => new Embedding("emb", 11, 8, 6),
    () => tf.tensor2d([[1, 2, 3, 1, 1], [10, 0, 0, 5, 2]], undefined, "int32"),
  ],
  [
    "SelfAttention causal",
    () => new SelfAttention("attn", 16, 4),
    () => tf.randomNormal([2, 6, 16], 0, 1, "float32", 4),
  ],
  [
    "SelfAttention bidirectional",
    () => new SelfAttention("attn", 16, 2, { causal: false }),
    () => tf.randomNormal([2, 5, 16], 0, 1, "float32", 5),
  ],
  [
    "TransformerBlock",
    () => new TransformerBlock("block", { dim: 16, heads: 4 }),
    () => tf.randomNormal([2, 6, 16], 0, 1, "float32", 6),
  ],
  [
    "Sequence(Linear, Gelu, Linear)",
    () => new Sequence("mlp", [new Linear("a", 8, 16), new Gelu("g"), new Linear("b", 16, 8)]),
    () => tf.randomNormal([3, 8], 0, 1, "float32", 7),
  ],
  [
    "PatchEmbedding",
    () => new PatchEmbedding("embed", 8, 2, 4, 12),
    () => tf.randomUniform([2, 8, 8, 2], 0, 1, "float32", 8),
    false, // images: the first layer returns no input gradient
  ],
  ["PoolHead", () => new PoolHead("head", 5, 12, 3), () => tf.randomNormal([2, 5, 12], 0, 1, "float32", 9)],
];

for (const [name, make, input, inputGrad] of cases) {
  testOnBackends(`${name} backward matches tf.grads`, async () => {
    await assertNoLeaks(() => {
      const x = input();
      try {
        check(make(), x, inputGrad);
      } finally {
        x.dispose();
      }
    });
  });
}

testOnBackends("layers reject wrong input shapes with a TypeError", () => {
  const params = paramsOf(new Linear("fc", 4, 3));
  const x = tf.zeros([2, 5]);
  const ids = tf.zeros([2, 3]);
  const ctx = new Context({ params });
  assert.throws(() => new Linear("fc", 4, 3).forward(x, ctx), {
    name: "TypeError",
    message: /expected last dimension 4: current shape is \[2,5\]/,
  });
  assert.throws(() => new Embedding("emb", 5, 4, 2).forward(ids, ctx), { name: "TypeError", message: /int32/ });
  assert.throws(() => new SelfAttention("attn", 4, 2).forward(x, ctx), { name: "TypeError", message: /rank 3/ });
  x.dispose();
  ids.dispose();
  Object.values(params).forEach((p) => p.dispose());
});

testOnBackends("layer constructors reject bad sizes with a RangeError", () => {
  assert.throws(() => new Linear("fc", 0, 3), RangeError);
  assert.throws(() => new SelfAttention("attn", 10, 3), { name: "RangeError", message: /current value is 3/ });
  assert.throws(() => new LayerNorm("ln", -1), RangeError);
});
