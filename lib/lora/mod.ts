/**
 * LoRA: low-rank adapters on chosen Linear layers (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
 * arXiv:2106.09685). The base weight W is frozen; each adapted layer computes `x·W + b + (α/r)·(x·A)·B` with trainable
 * A `[in, r]` and B `[r, out]` (B = 0 at init, so the adapted model starts equal to its base). Frozen parameters get
 * no gradient, no optimizer state, and their Linear saves no input for a weight gradient, so backprop fine-tuning
 * holds the adapters' gradients and Adam moments only; MeZO perturbs only the adapters. {@linkcode mergeLora} folds
 * the adapters into W for inference.
 *
 * @example Fine-tune a tiny GPT's attention adapters with Adam, then merge
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mergeLora, withLora } from "./mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { adam } from "../optim/mod.ts";
 * import { Trainer } from "../train/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const lora = withLora(createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 }), { rank: 4 });
 * const trainer = new Trainer(lora, { optimizer: adam({ lr: 1e-2 }) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const first = trainer.step(batch).loss;
 * for (let i = 0; i < 5; i++) trainer.step(batch);
 * assert.ok(trainer.step(batch).loss < first);
 * trainer.dispose();
 * const merged = mergeLora(lora); // plain GPT layers, W + (α/r)·A·B
 * assert.equal(merged.layers.length, lora.layers.length);
 * ```
 * @module
 */
export { LoraLinear, type LoraLinearOptions } from "./linear.ts";
export {
  isLoraParam,
  type LoraInfo,
  type LoraModel,
  type LoraOptions,
  type LoraTargets,
  mergeLora,
  targetMatcher,
  withLora,
} from "./adapt.ts";
