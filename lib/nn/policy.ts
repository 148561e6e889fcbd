/**
 * Seam A: what the backward pass keeps.
 *
 * Every tensor a layer's forward keeps for its backward goes through {@linkcode Context.save}, which routes it to the
 * {@linkcode ActivationPolicy} a {@linkcode PolicySelector} picks for it (like PyTorch's saved-tensor pack/unpack
 * hooks). The built-in policies here are the two extremes: {@linkcode keepPolicy} (plain backprop) and
 * {@linkcode discardPolicy} (inference, or the inside of a checkpointed segment). Mesa and WTA-CRS add lossy ones.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** What a saved tensor is, so selectors and quantizers can decide per role. */
export type SavedRole =
  | "linear.input"
  | "gelu.input"
  | "softmax.output"
  | "attn.q"
  | "attn.k"
  | "attn.v"
  | "layernorm.input"
  | "layernorm.stats"
  | "embedding.ids"
  | "loss.probs"
  | "loss.targets"
  | "loss.weights"
  | "pool.input"
  | "checkpoint.input"
  | (string & Record<never, never>);

/** Where a saved tensor comes from; policies, selectors and the meter read this. */
export interface SavedInfo {
  /** Stable, human-readable path, e.g. `"blocks.3.mlp.fc1.input"`. */
  tag: string;
  /** What the tensor is (see {@linkcode SavedRole}). */
  role: SavedRole;
  /** Axis along which groups are natural (attention heads, channels), when the layer knows one. */
  groupAxis?: number;
}

/**
 * How one saved tensor is held between forward and backward.
 *
 * Ownership: `pack` must not dispose `t`; whatever tensors it keeps must be `tf.keep`-ed (the forward runs inside
 * `tf.tidy`). `unpack` returns a tensor the caller owns (it is disposed by the caller's tidy). `dispose` frees the
 * packed form.
 */
export interface ActivationPolicy<P = unknown> {
  /** Readable name, e.g. `"keep"`, `"int8(per-tensor)"`. */
  readonly name: string;
  /** True when `unpack(pack(t))` equals `t`; false for lossy (Mesa) or sampled (WTA-CRS) policies. */
  readonly exact: boolean;
  /** Forward: keep, quantize, sample or drop. */
  pack(t: tf.Tensor, info: SavedInfo): P;
  /** Backward: the tensor (or an unbiased stand-in) the backward will use. */
  unpack(p: P, info: SavedInfo): tf.Tensor;
  /** Bytes really held by the packed form (tfjs buffers and bytes held outside tfjs). */
  bytes(p: P): number;
  /** Bytes a tensor of this shape/dtype would take once packed, for the analytic count. */
  predictBytes(shape: readonly number[], dtype: tf.DataType, info: SavedInfo): number;
  /** Frees the packed form. */
  dispose(p: P): void;
  /**
   * Optional: the weight gradient `xᵀ·dy` of a Linear layer computed straight from the packed input (WTA-CRS keeps
   * only sampled rows, so it never re-materializes a dense input). `dy` is `[N, out]`; the result is `[in, out]`.
   */
  weightGrad?(p: P, dy: tf.Tensor2D, info: SavedInfo): tf.Tensor2D;
}

/** Picks a policy per saved tensor: the decision, kept apart from the mechanism. */
export type PolicySelector = (info: SavedInfo) => ActivationPolicy;

/** Bytes per element of a tfjs dtype as held in memory. */
export function dtypeBytes(dtype: tf.DataType): number {
  return dtype === "bool" ? 1 : dtype === "complex64" ? 8 : 4;
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Keeps the tensor itself (a buffer-sharing clone): exact, plain backprop.
 *
 * @example Usage
 * ```ts
 * import { keepAll } from "./policy.ts";
 * keepAll({ tag: "x", role: "linear.input" }).name; // "keep"
 * ```
 */
export const keepPolicy: ActivationPolicy<tf.Tensor> = Object.freeze({
  name: "keep",
  exact: true,
  pack: (t: tf.Tensor) => tf.keep(t.clone()),
  unpack: (p: tf.Tensor) => p.clone(),
  bytes: (p: tf.Tensor) => p.size * dtypeBytes(p.dtype),
  predictBytes: (shape: readonly number[], dtype: tf.DataType) => elements(shape) * dtypeBytes(dtype),
  dispose: (p: tf.Tensor) => p.dispose(),
});

/** Keeps nothing: for inference and for the forward of a checkpointed segment. Unpacking it is an error. */
export const discardPolicy: ActivationPolicy<null> = Object.freeze({
  name: "discard",
  exact: true,
  pack: () => null,
  unpack: (_p: null, info: SavedInfo): tf.Tensor => {
    throw new Error(`Cannot run backward: "${info.tag}" was not saved (forward ran with the discard policy)`);
  },
  bytes: () => 0,
  predictBytes: () => 0,
  dispose: () => {},
});

/** Selector that keeps every saved tensor (plain backprop). */
export function keepAll(_info: SavedInfo): ActivationPolicy {
  return keepPolicy;
}

/** Selector that keeps nothing (inference). */
export function discardAll(_info: SavedInfo): ActivationPolicy {
  return discardPolicy;
}

/**
 * Selector by role: tensors whose role is a key get that policy, the rest `fallback` (default keep).
 *
 * @example Usage
 * ```ts
 * import { byRole, keepPolicy } from "./policy.ts";
 * const sel = byRole({ "gelu.input": keepPolicy });
 * sel({ tag: "a", role: "gelu.input" }).name; // "keep"
 * ```
 */
export function byRole(
  map: Partial<Record<SavedRole, ActivationPolicy>>,
  fallback: PolicySelector = keepAll,
): PolicySelector {
  return (info) => map[info.role] ?? fallback(info);
}

/**
 * Selector that applies `inner` except where `exclude(info)` is true (then `fallback`, default keep): the per-layer
 * opt-out, e.g. keep the first and last block exact.
 */
export function except(
  inner: PolicySelector,
  exclude: (info: SavedInfo) => boolean,
  fallback: PolicySelector = keepAll,
): PolicySelector {
  return (info) => exclude(info) ? fallback(info) : inner(info);
}
