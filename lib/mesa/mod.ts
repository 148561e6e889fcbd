/**
 * Mesa: 8-bit saved activations for Transformer training. The forward pass is exact; the tensors backward needs are
 * saved as one byte per element (tfjs `bool` storage) with per-group running ranges, and dequantized in backward.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mesa } from "./mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { adamw } from "../optim/mod.ts";
 * import { backprop, Trainer } from "../train/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const m = mesa({ grouping: "head-wise" });
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 3e-3 }), source: backprop({ selector: m.selector }) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const { savedBytes } = trainer.step(batch); // ... train ...
 * assert.ok(savedBytes > 0 && m.state.size > 0);
 * trainer.dispose();
 * m.dispose();
 * ```
 *
 * References: Pan et al., "Mesa: A Memory-saving Training Framework for Transformers", arXiv:2111.11124.
 * @module
 */
export { type Mesa, mesa, MESA_DEFAULT_ROLES, mesaExcept, type MesaOptions } from "./select.ts";
export {
  groupingName,
  type MesaPacked,
  type MesaPolicy,
  mesaPolicy,
  type MesaPolicyOptions,
  type OutOfRange,
  resolveMesaOptions,
} from "./policy.ts";
export { type MesaRange, type MesaRangeObserver, type MesaSnapshot, MesaState } from "./state.ts";
export {
  dequantize,
  type Grouping,
  type GroupLayout,
  groupLayout,
  groupMinMax,
  HEADWISE_CHANNEL_GROUPS,
  LEVELS,
  quantize,
  quantizeBytes,
  type QuantizeOptions,
  RANGE_EPS,
  type Rounding,
} from "./quantize.ts";
export { type BytePaths, bytePaths, packBytes, unpackBytes } from "./storage.ts";
export { fillUniform, mixSeed, uniformNoise } from "./noise.ts";
