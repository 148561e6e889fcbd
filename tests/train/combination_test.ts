import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint, predictPeakSavedBytes } from "../../lib/checkpoint/mod.ts";
import { countTask } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/data/rng.ts";
import { predictSavedBytes } from "../../lib/nn/analytic.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { trunkSavedSpecs } from "../../lib/nn/model.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { backprop, disposeBatch, tokenBatch, Trainer } from "../../lib/train/mod.ts";
import { assertNormRelErrors } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

testOnBackends(
  "checkpoint(sqrt) + Mesa head-wise compose on one model: exact forward, close gradients, the predicted memory",
  () => {
    const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 16, layers: 4 };
    const m = mesa({ grouping: "head-wise" });
    const combined = backprop({ selector: m.selector, trunk: checkpoint("sqrt") });
    const rng = new Rng(1);
    const batchOf = () => tokenBatch(countTask(rng, { batch: 8, context: 16, vocab: 16 }), 8, 16);

    // One step against plain backprop: same loss (forward is exact), gradients close (Mesa is lossy in backward only).
    const probe = createGpt(cfg, { seed: 0 });
    const b0 = batchOf();
    const plain = backprop().lossAndGrads(probe, b0);
    const both = combined.lossAndGrads(probe, b0);
    assert.equal(both.loss, plain.loss);
    // Norm-relative error per parameter: measured worst 1.5e-2 (blocks.1.attn.proj.w), the same on every backend.
    assertNormRelErrors(both.grads, plain.grads, 0.025);
    // What is held when backward starts: segment inputs (kept) + Mesa-packed head tensors, as predicted.
    const trunk = checkpoint("sqrt")(probe.layers);
    assert.equal(both.savedBytes, predictSavedBytes(trunkSavedSpecs(trunk, probe.loss, b0.x.shape), m.selector));
    assert.ok(
      predictPeakSavedBytes(trunk, b0.x.shape, { selector: m.selector, loss: probe.loss }) <
        0.35 * predictSavedBytes(probe.savedSpecs(b0.x.shape)),
    );
    tf.dispose([...Object.values(plain.grads), ...Object.values(both.grads), ...Object.values(probe.params)]);
    disposeBatch(b0);

    m.dispose();
  },
);

testOnBackends(
  "checkpoint(sqrt) + Mesa head-wise: 60 training steps leak nothing and halve the loss",
  () => {
    const cfg = { ...GPT_PRESETS.tiny, vocab: 16, context: 16, layers: 4 };
    const m = mesa({ grouping: "head-wise" });
    const combined = backprop({ selector: m.selector, trunk: checkpoint("sqrt") });
    const rng = new Rng(1);
    const batchOf = () => tokenBatch(countTask(rng, { batch: 8, context: 16, vocab: 16 }), 8, 16);
    const gpt = createGpt(cfg, { seed: 0 });
    const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2, weightDecay: 0 }), source: combined });
    const warm = batchOf();
    const first = trainer.step(warm).loss;
    disposeBatch(warm);
    const tensors = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 60; i++) {
      const b = batchOf();
      last = trainer.step(b).loss;
      disposeBatch(b);
    }
    assert.equal(tf.memory().numTensors, tensors, "no leaks");
    assert.ok(last < 0.5 * first, `loss should fall: ${first} -> ${last}`);
    trainer.dispose();
    m.dispose();
    tf.dispose(Object.values(gpt.params));
  },
  { cpu: "60 steps take about a minute on the cpu backend" },
);
