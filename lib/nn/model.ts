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
  /** Analytic list of every tensor a training forward saves for a batch with input shape `inputShape`. */
  savedSpecs(inputShape: readonly number[], weighted?: boolean): SavedSpec[];
  /** Forward FLOPs of one example (multiply-adds counted as 2), for GFLOP/s reports. */
  flopsPerExample(): number;
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
