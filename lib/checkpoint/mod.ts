/**
 * Gradient checkpointing (Chen et al. 2016): keep only segment inputs in forward, recompute each segment's forward
 * in backward. A plan groups a model's blocks into {@linkcode CheckpointSegment}s through the `trunk` seam of
 * `backprop`; the recomputed forward saves through the caller's selector, so checkpointing composes with Mesa and
 * WTA-CRS policies. Gradients are exact (recomputation is deterministic; RNG layers must replay from a seed).
 *
 * References: Chen, Xu, Zhang, Guestrin, "Training Deep Nets with Sublinear Memory Cost", arXiv:1604.06174 (2016).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { checkpoint, planSegments } from "./mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { backprop } from "../train/backprop.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(planSegments(4, "sqrt"), [2, 2]);
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 4 }, { seed: 0 });
 * const x = tf.zeros([2, 8], "int32"), y = tf.ones([2, 8], "int32");
 * const { loss, grads, savedBytes } = backprop({ trunk: checkpoint("sqrt") }).lossAndGrads(gpt, { x, y });
 * assert.ok(Number.isFinite(loss) && savedBytes > 0);
 * assert.deepEqual(Object.keys(grads).sort(), Object.keys(gpt.params).sort());
 * ```
 * @module
 */
export { checkpoint, type CheckpointOptions, type CheckpointPlan, isBlock, planSegments } from "./plan.ts";
export {
  CheckpointSegment,
  type CheckpointSegmentOptions,
  type LossSpecs,
  type PeakOptions,
  predictPeakSavedBytes,
  RecomputeMismatchError,
  trunkParamSpecs,
} from "./segment.ts";
