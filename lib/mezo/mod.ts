/**
 * MeZO: memory-efficient zeroth-order fine-tuning from two forward passes (Malladi et al., "Fine-Tuning Language
 * Models with Just Forward Passes", NeurIPS 2023, arXiv:2305.17333). Each step evaluates the objective at `θ + ε·z`
 * and `θ − ε·z`, with z regenerated from a seed per tensor, and moves θ along z by the projected gradient
 * `g = (ℓ₊ − ℓ₋)/(2ε)`: the memory of inference plus one parameter tensor. Unlike the original's in-place
 * `+ε, −2ε, +ε` perturbation (whose float rounding drifts θ, its issue #42), the two evaluations read `θ ± ε·z`
 * through a computing parameter provider, so θ is never modified until the update. A run is replayable bit for bit
 * from its log of seeds and g's ({@linkcode replayMezo}).
 *
 * @example MeZO on a tiny GPT, then replay the run from its log
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mezo, MezoLog, replayMezo } from "./mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { disposeTree } from "../nn/mod.ts";
 * import { Trainer } from "../train/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 });
 * const initial = Object.fromEntries(Object.entries(gpt.params).map(([k, v]) => [k, v.clone()]));
 * const log = new MezoLog();
 * const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-3, log }) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * for (let i = 0; i < 5; i++) trainer.step(batch);
 * const replayed = replayMezo(log, initial);
 * assert.deepEqual(replayed["head.out.w"].dataSync(), gpt.params["head.out.w"].dataSync());
 * trainer.dispose();
 * disposeTree(replayed);
 * ```
 * @module
 */
export {
  errorRateObjective,
  lossObjective,
  mezo,
  type MezoObjective,
  type MezoOptions,
  type MezoState,
  perturbed,
} from "./step.ts";
export { MezoLog, type MezoLogConfig, type MezoLogJson, type MezoLogStep, replayMezo } from "./log.ts";
export { type ParamSelection, selectParams } from "./select.ts";
export { axpzInto, gaussianAt, hashAt, noiseKey, type NoiseKind, rademacherAt, stepSeed } from "./noise.ts";
export { axpz, type AxpzAttrs, axpzStock } from "./kernel.ts";
export { type TensorUpdate, updateTensor } from "./update.ts";
