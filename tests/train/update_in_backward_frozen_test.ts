/** Update in backward on frozen models and LoRA: bitwise equal to the standard step; frozen parameters untouched. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { countTask } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/data/rng.ts";
import { isLoraParam, withLora } from "../../lib/lora/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import type { GradSource } from "../../lib/nn/grad_source.ts";
import type { Model } from "../../lib/nn/model.ts";
import type { Params } from "../../lib/nn/params.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { backprop, disposeBatch, tokenBatch, Trainer, type UpdateMode } from "../../lib/train/mod.ts";
import { testOnBackends } from "../_util/backends.ts";

const CFG = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 3 };

function values(params: Params): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(params).map(([k, t]) => [k, t.dataSync() as Float32Array]));
}

/** Trains `make()` for `steps` steps with `update`; returns the values after each step and the frozen tensors' ids. */
function runModel(make: () => Model, update: UpdateMode, steps: number, source: () => GradSource = () => backprop()) {
  const tensors = tf.memory().numTensors;
  const model = make();
  const frozen = Object.keys(model.params).filter((k) => model.trainable && !model.trainable(k));
  const frozenTensors = frozen.map((k) => model.params[k]);
  const trainer = new Trainer(model, { optimizer: adamw({ lr: 1e-2, weightDecay: 0.1 }), source: source(), update });
  const rng = new Rng(3);
  const out: Record<string, Float32Array>[] = [];
  for (let i = 0; i < steps; i++) {
    const b = tokenBatch(countTask(rng, { batch: 4, context: 8, vocab: 16 }), 4, 8);
    trainer.step(b);
    disposeBatch(b);
    out.push(values(model.params));
  }
  const stateKeys = Object.keys((trainer.state as unknown as [{ mu: Params }])[0].mu);
  const sameFrozen = frozen.every((k, i) => model.params[k] === frozenTensors[i] && !frozenTensors[i].isDisposed);
  trainer.dispose();
  tf.dispose(Object.values(model.params));
  assert.equal(tf.memory().numTensors, tensors, `${update}: no tensor leaks`);
  return { out, frozen, stateKeys, sameFrozen };
}

testOnBackends("a frozen model updated in backward equals the standard step bit for bit; frozen get no update", () => {
  // Freeze the embeddings and the first block: they get no gradient, no state and keep their very tensors.
  const trainable = (k: string) => !k.startsWith("embed.") && !k.startsWith("blocks.0.");
  const make = () => ({ ...createGpt(CFG, { seed: 0 }), trainable });
  for (const src of [() => backprop(), () => backprop({ trunk: checkpoint("sqrt") })]) {
    const standard = runModel(make, "per-param", 2, src), inBackward = runModel(make, "in-backward", 2, src);
    assert.ok(inBackward.frozen.length > 0 && inBackward.frozen.length < Object.keys(inBackward.out[0]).length);
    assert.ok(inBackward.sameFrozen, "frozen parameters keep their tensors");
    assert.deepEqual(inBackward.stateKeys, standard.stateKeys);
    assert.ok(inBackward.frozen.every((k) => !inBackward.stateKeys.includes(k)), "no state for frozen parameters");
    const initial = createGpt(CFG, { seed: 0 });
    inBackward.out.forEach((step, i) => {
      for (const k of Object.keys(step)) assert.deepEqual(step[k], standard.out[i][k], `step ${i}: ${k}`);
    });
    for (const k of inBackward.frozen) assert.deepEqual(inBackward.out[1][k], initial.params[k].dataSync(), k);
    assert.notDeepEqual(inBackward.out[1]["blocks.1.attn.qkv.w"], initial.params["blocks.1.attn.qkv.w"].dataSync());
    tf.dispose(Object.values(initial.params));
  }
});

testOnBackends("LoRA updated in backward equals the standard step bit for bit (only the adapters change)", () => {
  const make = () => withLora(createGpt(CFG, { seed: 0 }), { rank: 2, alsoTrain: (k) => k.startsWith("head.") });
  const standard = runModel(make, "per-param", 3), inBackward = runModel(make, "in-backward", 3);
  assert.ok(inBackward.sameFrozen && inBackward.frozen.some((k) => k.endsWith("attn.qkv.w")));
  assert.ok(inBackward.stateKeys.every((k) => isLoraParam(k) || k.startsWith("head.")), "state for adapters only");
  inBackward.out.forEach((step, i) => {
    for (const k of Object.keys(step)) assert.deepEqual(step[k], standard.out[i][k], `step ${i}: ${k}`);
  });
  // B starts at 0 and has moved: the adapters were trained.
  assert.ok(inBackward.out[2]["blocks.0.attn.qkv.lora_b"].some((v) => v !== 0));
});
