/**
 * What every memtrain model is: a trunk of explicit-backward layers, a loss, and a parameter map.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { SoftmaxCrossEntropy } from "./cross_entropy.ts";
import { chainSavedSpecs, type Layer, prefixed, type SavedSpec } from "./layer.ts";
import type { Params } from "./params.ts";
import type { BatchRows } from "./policy.ts";

/** One training or evaluation batch. The caller owns (and disposes) its tensors. */
export interface Batch {
  /** Token ids `[B, T]` (int32) or images `[B, H, W, C]`. */
  x: tf.Tensor;
  /** Targets: next tokens `[B, T]` or class labels `[B]` (int32). */
  y: tf.Tensor;
  /** Optional per-target loss weights (a loss mask), shaped like `y`. */
  weights?: tf.Tensor;
  /** Optional per-example facts for policies (stable example ids, padding tokens); plain data, not tensors. */
  rows?: BatchRows;
}

/**
 * A model built from memtrain layers. `layers` is the trunk run in order (embedding, blocks, head): the unit that
 * checkpointing segments and StreamBP streams. Parameters live in `params`, keyed by layer path, so optimizers,
 * MeZO and the training loop can swap them without touching the layers.
 */
export interface Model<C = unknown> {
  /** "gpt" or "vit". */
  readonly kind: string;
  /** The resolved config. */
  readonly config: C;
  /** The trunk, run in order. */
  readonly layers: Layer[];
  /** The loss on the trunk's output. */
  readonly loss: SoftmaxCrossEntropy;
  /** Parameters by path (replaced by the training loop after each update). */
  params: Params;
  /**
   * Which parameters are trained, by path (LoRA freezes the base weights). Frozen parameters get no gradient
   * (`ContextOptions.trainable`), no optimizer state and no update: the Trainer hands its step only
   * {@linkcode trainableParams}. @default {every parameter}
   */
  readonly trainable?: (name: string) => boolean;
  /** Analytic list of every tensor a training forward saves for a batch with input shape `inputShape`. */
  savedSpecs(inputShape: readonly number[], weighted?: boolean): SavedSpec[];
  /** Forward FLOPs of one example (multiply-adds counted as 2), for GFLOP/s reports. */
  flopsPerExample(): number;
}

/**
 * The parameters a training step updates: `model.params` restricted to `model.trainable` (all of them when the model
 * freezes none). Same tensors, a new map.
 *
 * @example Usage
 * ```ts
 * import { trainableParams } from "./model.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { disposeTree } from "./params.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const probe = { ...gpt, trainable: (name: string) => name.startsWith("head.") };
 * assert.deepEqual(Object.keys(trainableParams(probe)), ["head.ln_f.g", "head.ln_f.b", "head.out.w", "head.out.b"]);
 * disposeTree(gpt.params);
 * ```
 */
export function trainableParams(model: Pick<Model, "params" | "trainable">): Params {
  const keep = model.trainable;
  if (!keep) return { ...model.params };
  return Object.fromEntries(Object.entries(model.params).filter(([k]) => keep(k)));
}

/** The saved tensors of a trunk plus its loss, for a batch with input shape `inputShape`. */
export function trunkSavedSpecs(
  layers: readonly Layer[],
  loss: SoftmaxCrossEntropy,
  inputShape: readonly number[],
  weighted = false,
): SavedSpec[] {
  const outShape = layers.reduce((s, l) => l.outputShape(s), inputShape.slice());
  return [...chainSavedSpecs(layers, inputShape), ...prefixed(loss.name, loss.savedSpecs(outShape, weighted))];
}
