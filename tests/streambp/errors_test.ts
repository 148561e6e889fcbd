/** Bad StreamBP options and models StreamBP cannot stream give clear errors naming the option or layer. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { Linear, type Model, PoolHead, TransformerBlock } from "../../lib/nn/mod.ts";
import { chunkRanges, streamBp } from "../../lib/streambp/mod.ts";

Deno.test("bad chunk options are RangeErrors naming the option and the value", () => {
  for (const chunk of [0, -1, 1.5, Number.NaN, "4" as unknown as number]) {
    assert.throws(
      () => streamBp({ chunk }),
      (e: Error) =>
        e instanceof RangeError && e.message.includes(`'chunk' must be a positive integer: current value is ${chunk}`),
    );
  }
  assert.throws(
    () => streamBp({ chunk: 4, logitsChunk: 0 }),
    /'logitsChunk' must be a positive integer: current value is 0/,
  );
  assert.throws(
    () => streamBp({ kv: "both" as never }),
    (e: Error) =>
      e instanceof RangeError && /'kv' must be "cache" or "recompute": current value is both/.test(e.message),
  );
  assert.throws(() => chunkRanges(0, 4), /current value is 0/);
  assert.throws(() => streamBp({ maxScores: -1 }), /'maxScores' must be a non-negative integer: current value is -1/);
  assert.throws(() => chunkRanges(8, 4, 2.5), /'maxScores' must be a non-negative integer: current value is 2.5/);
  assert.equal(streamBp({ chunk: 3 }).name, "streambp(chunk=3, kv=cache)");
  assert.deepEqual(streamBp({ chunk: 8, logitsChunk: 2, kv: "recompute" }).config, {
    chunk: 8,
    logitsChunk: 2,
    maxScores: 0,
    kv: "recompute",
  });
});

Deno.test("a non-causal model (ViT, or a GPT with a bidirectional block) is a TypeError naming the block", async () => {
  await initBackend({ backend: "cpu" });
  const vit = createVit(VIT_PRESETS.tiny);
  const x = tf.zeros([1, 28, 28, 1]), y = tf.zeros([1], "int32");
  assert.throws(
    () => streamBp().lossAndGrads(vit, { x, y }),
    (e: Error) => e instanceof TypeError && /"vit" model: block "blocks.0" has non-causal attention/.test(e.message),
  );
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 });
  const bidirectional: Model = {
    ...gpt,
    layers: gpt.layers.map((l) =>
      l.name === "blocks.1" ? new TransformerBlock("blocks.1", { dim: 64, heads: 4, causal: false }) : l
    ),
  };
  const ids = tf.zeros([1, 8], "int32");
  assert.throws(
    () => streamBp().lossAndGrads(bidirectional, { x: ids, y: ids }),
    /block "blocks.1" has non-causal attention/,
  );
  const pooled: Model = { ...gpt, layers: [...gpt.layers.slice(0, -1), new PoolHead("head", 8, 64, 16)] };
  assert.throws(() => streamBp().lossAndGrads(pooled, { x: ids, y: ids }), /head layer "head" is not position-wise/);
  const gap: Model = {
    ...gpt,
    layers: [gpt.layers[0], gpt.layers[1], new Linear("mid", 64, 64), gpt.layers[2], gpt.layers[3]],
  };
  assert.throws(
    () => streamBp().lossAndGrads(gap, { x: ids, y: ids }),
    /layer "mid" sits between its Transformer blocks/,
  );
  assert.throws(
    () => streamBp().lossAndGrads(gpt, { x: tf.zeros([1, 8]), y: ids }),
    (e: Error) => e instanceof TypeError && /'x' must be \[B, T\] int32 token ids/.test(e.message),
  );
  tf.dispose([x, y, ids, ...Object.values(gpt.params), ...Object.values(vit.params)]);
});
