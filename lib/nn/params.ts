/**
 * The shared tensor vocabulary: flat maps from parameter path to tensor.
 *
 * Names are layer paths such as `"blocks.0.attn.qkv.w"`. `Params`, `Grads` and `Updates` always share keys and
 * shapes, so optimizers, gradient sources and the training loop can zip them without knowing the model.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Model parameters by path. */
export type Params = Record<string, tf.Tensor>;
/** Gradients with the same keys and shapes as {@linkcode Params}. */
export type Grads = Record<string, tf.Tensor>;
/** Parameter updates (added to the parameters) with the same keys and shapes as {@linkcode Params}. */
export type Updates = Record<string, tf.Tensor>;

/** Disposes every tensor of a map. */
export function disposeTree(tree: Record<string, tf.Tensor>): void {
  for (const t of Object.values(tree)) t.dispose();
}

/** Bytes held by a map of float32/int32 tensors (4 bytes per element; bool counts 1). */
export function treeBytes(tree: Record<string, tf.Tensor>): number {
  let n = 0;
  for (const t of Object.values(tree)) n += t.size * (t.dtype === "bool" ? 1 : 4);
  return n;
}

/** Number of scalar parameters in a map. */
export function treeSize(tree: Record<string, tf.Tensor>): number {
  let n = 0;
  for (const t of Object.values(tree)) n += t.size;
  return n;
}
