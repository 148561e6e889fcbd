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
import { Rng } from "../data/rng.ts";

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

/**
 * Identifies one forward pass. Every forward runs with one (the {@linkcode Context} carries it into each
 * {@linkcode SavedInfo}); stochastic policies derive their random numbers from it and the tag only
 * ({@linkcode savedRng}), so a replay with the same key (a checkpoint recompute, a resumed run) draws the same
 * numbers whatever ran before. The Trainer passes `{ step: <steps taken>, seed: <its seed> }`; callers that run
 * passes themselves pass a new `step` per training step (with the default key every pass is step 0 and draws the
 * same numbers).
 */
export interface ForwardKey {
  /** The training step (or any counter that differs between passes that must draw different numbers). */
  readonly step: number;
  /** The run's seed (or a per-micro-batch seed). */
  readonly seed: number;
}

/** The key of a pass that was given none: step 0, seed 0. */
export const DEFAULT_FORWARD_KEY: ForwardKey = Object.freeze({ step: 0, seed: 0 });

/**
 * Per-example facts of a pass's batch that a policy may read (plain data, not tensors): WTA-CRS keys its cache of
 * output-gradient row norms by `ids` and gives padding rows probability 0. A batch carries them as `Batch.rows`;
 * `backprop` copies them into the {@linkcode Context}, which puts them into every {@linkcode SavedInfo}.
 */
export interface BatchRows {
  /**
   * A stable id per example of the batch, length B (e.g. its index in the dataset): an example that recurs in a later
   * batch has the same id. A saved tensor with N rows gives each example N / B consecutive rows.
   */
  readonly ids?: Int32Array;
  /**
   * Per token of the batch input `[B, T]`, row-major (length B·T): 0 for a padding token, whose rows' output gradient
   * is zero in every layer (for a causal model: a token after the example's last weighted target), 1 otherwise. Only
   * saved tensors with exactly B·T rows are matched to it.
   */
  readonly live?: Uint8Array;
}

/** Where a saved tensor comes from; policies, selectors and the meter read this. */
export interface SavedInfo {
  /** Stable, human-readable path, e.g. `"blocks.3.mlp.fc1.input"`. */
  tag: string;
  /** What the tensor is (see {@linkcode SavedRole}). */
  role: SavedRole;
  /** Axis along which groups are natural (attention heads, channels), when the layer knows one. */
  groupAxis?: number;
  /** The pass's {@linkcode ForwardKey} step (set by {@linkcode Context.save}; absent means 0). */
  step?: number;
  /** The pass's {@linkcode ForwardKey} seed (set by {@linkcode Context.save}; absent means 0). */
  seed?: number;
  /** The batch's per-example facts, when the pass was given them (set by {@linkcode Context.save}). */
  rows?: BatchRows;
}

/**
 * The random stream of one saved tensor in one pass, for stochastic policies (Mesa's rounding noise, WTA-CRS's
 * sampling): it depends only on the policy's own seed, the pass key (`info.seed`, `info.step`) and the tag, never on
 * call order, so replaying a pass with the same key replays its numbers.
 *
 * @example Usage
 * ```ts
 * import { savedRng } from "./policy.ts";
 * import assert from "node:assert/strict";
 *
 * const info = { tag: "blocks.0.mlp.fc1.input", role: "linear.input", step: 3, seed: 0 };
 * assert.equal(savedRng(7, info).nextU32(), savedRng(7, { ...info }).nextU32()); // a replay draws the same
 * assert.notEqual(savedRng(7, info).nextU32(), savedRng(7, { ...info, step: 4 }).nextU32());
 * ```
 */
export function savedRng(policySeed: number, info: SavedInfo): Rng {
  return new Rng(policySeed).fork(info.seed ?? 0).fork(info.step ?? 0).fork(info.tag);
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
