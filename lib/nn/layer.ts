/**
 * The explicit-backward layer contract and parameter specs.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";

/**
 * A layer with an explicit backward.
 *
 * `forward` returns the output and saves what backward needs through `ctx.save` (never in fields: the same layer
 * object can run many times, e.g. chunk by chunk). `backward` takes the output gradient, loads what was saved,
 * accumulates parameter gradients with `ctx.accumulate`, and returns the input gradient (`null` when the input is
 * not differentiable, like token ids). Neither disposes its input: the caller owns `x` and `dy`.
 */
export interface Layer {
  /** Path segment of this layer, e.g. `"blocks.0"`. */
  readonly name: string;
  /** Forward pass. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor;
  /** Backward pass. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null;
  /** Parameters of this layer and its children, with paths relative to the layer. */
  paramSpecs(): ParamSpec[];
  /** Tensors forward saves for an input shape, with paths relative to the layer (the analytic count). */
  savedSpecs(inputShape: readonly number[]): SavedSpec[];
  /** Output shape for an input shape. */
  outputShape(inputShape: readonly number[]): number[];
}

/**
 * Rewrites a model's trunk before it runs, e.g. grouping blocks into checkpointed segments (`lib/checkpoint`). It
 * must return layers with the same parameters (paths unchanged) and may not change what the trunk computes.
 */
export type TrunkTransform = (layers: readonly Layer[]) => Layer[];

/** How to initialize a parameter. */
export interface ParamSpec {
  /** Path relative to the owning layer, e.g. `"w"` or `"fc1.w"`. */
  name: string;
  /** Shape. */
  shape: number[];
  /** Initializer: normal(0, std), zeros or ones. */
  init: { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "ones" };
}

/** One tensor a forward saves, predicted from shapes (see `lib/nn/analytic.ts`). */
export interface SavedSpec {
  /** Tag relative to the owning layer, e.g. `"fc1.input"`. */
  name: string;
  /** Role, as passed to `ctx.save`. */
  role: string;
  /** Shape of the saved tensor. */
  shape: number[];
  /** Dtype of the saved tensor. */
  dtype: tf.DataType;
  /** Group axis as passed to `ctx.save`. */
  groupAxis?: number;
  /**
   * When the tensor is saved only for the gradients of some parameters of the same layer (local names, e.g. `["w"]`
   * for a Linear's input): a forward whose those parameters are all frozen does not save it. Absent: always saved.
   */
  onlyFor?: readonly string[];
}

/** Prefixes the names of child specs with `prefix.`. */
export function prefixed<T extends { name: string }>(prefix: string, specs: T[]): T[] {
  return specs.map((s) => ({ ...s, name: `${prefix}.${s.name}` }));
}

/** Throws a TypeError when `x` does not have rank `rank` (or any of `rank`) and the given last dimension. */
export function checkInput(
  layer: string,
  x: tf.Tensor,
  opts: { rank?: number | number[]; lastDim?: number; dtype?: tf.DataType },
): void {
  const ranks = opts.rank === undefined ? undefined : Array.isArray(opts.rank) ? opts.rank : [opts.rank];
  if (ranks && !ranks.includes(x.rank)) {
    throw new TypeError(`${layer}: expected input of rank ${ranks.join(" or ")}: current shape is [${x.shape}]`);
  }
  if (opts.lastDim !== undefined && x.shape[x.rank - 1] !== opts.lastDim) {
    throw new TypeError(`${layer}: expected last dimension ${opts.lastDim}: current shape is [${x.shape}]`);
  }
  if (opts.dtype !== undefined && x.dtype !== opts.dtype) {
    throw new TypeError(`${layer}: expected ${opts.dtype} input: current dtype is ${x.dtype}`);
  }
}

/** The saved tensors of `layers` run in order on an input of `inputShape`, each prefixed with its layer's name. */
export function chainSavedSpecs(layers: readonly Layer[], inputShape: readonly number[]): SavedSpec[] {
  const out: SavedSpec[] = [];
  let shape = inputShape.slice();
  for (const l of layers) {
    out.push(...prefixed(l.name, l.savedSpecs(shape)));
    shape = l.outputShape(shape);
  }
  return out;
}
