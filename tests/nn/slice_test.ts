/**
 * A block run on a slice of the sequence `[s, e)` against the keys and values of `[0, e)` gives the full-sequence
 * block's outputs on those rows (the StreamBP seam), and its backward matches tf.grads.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { Context, type Layer, SelfAttention, TransformerBlock } from "../../lib/nn/mod.ts";
import { initParams } from "../../lib/models/init.ts";
import { maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertGradErrors, layerGradErrors } from "../_util/grad_check.ts";

const T = 8;
const SLICES: [number, number][] = [[0, 8], [3, 8], [0, 3], [2, 5], [7, 8], [5, 6]];

/** A layer that runs `block` on rows `[start, e)` of its input `[B, e, D]`. */
function sliced(block: TransformerBlock | SelfAttention, start: number): Layer {
  return {
    name: block.name,
    forward: (x, ctx) => block.forward(x, ctx, start),
    backward: (dy, ctx) => block.backward(dy, ctx),
    paramSpecs: () => block.paramSpecs(),
    savedSpecs: () => [],
    outputShape: (s) => [s[0], s[1] - start, s[2]],
  };
}

testOnBackends("a GPT block on rows [s, e) with the keys/values of [0, e) equals the full block on those rows", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: T }, { seed: 2 });
  const block = gpt.layers[1] as TransformerBlock;
  const x = tf.randomNormal([2, T, GPT_PRESETS.tiny.dim], 0, 1, "float32", 5);
  const before = tf.memory().numTensors;
  const ctx = () => new Context({ params: gpt.params, selector: () => ({ ...keepNothing }) });
  const full = block.forward(x, ctx().child(block.name)); // [B, T, D]
  let worst = 0;
  for (const [s, e] of SLICES) {
    const prefix = x.slice([0, 0, 0], [2, e, -1]); // rows 0..e-1
    const out = block.forward(prefix, ctx().child(block.name), s); // [B, e - s, D]
    assert.deepEqual(out.shape, [2, e - s, GPT_PRESETS.tiny.dim]);
    const want = full.slice([0, s, 0], [2, e - s, -1]);
    const err = maxRelError(out, want);
    worst = Math.max(worst, err);
    assert.ok(err <= 1e-5, `slice [${s}, ${e}): max rel error ${err}`);
    tf.dispose([prefix, out, want]);
  }
  full.dispose();
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  tf.dispose([x, ...Object.values(gpt.params)]);
});

/** A policy that keeps nothing (forward only): built inline so the test does not depend on the pack path. */
const keepNothing = {
  name: "none",
  exact: true,
  pack: () => null,
  unpack: () => {
    throw new Error("forward only");
  },
  bytes: () => 0,
  predictBytes: () => 0,
  dispose: () => {},
};

testOnBackends("the backward of a block and of attention on a slice match tf.grads (input rows and parameters)", () => {
  const block = new TransformerBlock("blk", { dim: 16, heads: 2, mlpDim: 32 });
  const attn = new SelfAttention("attn", 16, 2);
  for (const layer of [block, attn]) {
    const base = initParams(layer.paramSpecs(), 4);
    const params: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(base)) {
      params[k] = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", k.length)));
      v.dispose();
    }
    for (const start of [0, 2, 5]) {
      const x = tf.randomNormal([2, 6, 16], 0, 1, "float32", 9 + start);
      assertGradErrors(layerGradErrors(sliced(layer, start), x, params), 1e-4);
      x.dispose();
    }
    tf.dispose(Object.values(params));
  }
});

Deno.test("a slice start outside [0, e) is a RangeError naming the value", async () => {
  const { initBackend } = await import("../../lib/backend/mod.ts");
  await initBackend({ backend: "cpu" });
  const block = new TransformerBlock("blk", { dim: 8, heads: 2 });
  const params = initParams(block.paramSpecs(), 0);
  const x = tf.zeros([1, 4, 8]);
  for (const bad of [4, -1, 1.5]) {
    assert.throws(
      () => block.forward(x, new Context({ params }).child("blk"), bad),
      (e: Error) => e instanceof RangeError && e.message.includes(`current value is ${bad}`),
    );
  }
  tf.dispose([x, ...Object.values(params)]);
});
