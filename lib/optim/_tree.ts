/**
 * Private tensor-map helpers for the optimizer files.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Builds a new map by running `fn(key)` for every key of `ref`, each inside its own `tf.tidy` (so a parameter's
 * intermediates are freed before the next parameter is processed, keeping peak memory low), and `tf.keep`s the result
 * so it survives any tidy the caller is in.
 */
export function mapKept(
  ref: Record<string, tf.Tensor>,
  fn: (key: string) => tf.Tensor,
): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const k of Object.keys(ref)) out[k] = tf.keep(tf.tidy(() => fn(k)));
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** New, kept handles on the same buffers (`tf.clone` shares data; it costs no copy). */
export function cloneKept(tree: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return mapKept(tree, (k) => tf.clone(tree[k]));
}

/** Zeros shaped like every tensor of `tree`, kept. */
export function zerosLikeKept(tree: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return mapKept(tree, (k) => tf.zerosLike(tree[k]));
}
