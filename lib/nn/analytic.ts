/**
 * The analytic count of saved-activation bytes: what a training forward should hold for backward, from shapes and
 * the policies a selector picks. Tests hold the meter's measurement against it.
 * @module
 */
import type { SavedSpec } from "./layer.ts";
import { keepAll, type PolicySelector } from "./policy.ts";

/** One predicted saved tensor with its policy and bytes. */
export interface PredictedSaved extends SavedSpec {
  /** Policy name. */
  policy: string;
  /** Predicted bytes once packed. */
  bytes: number;
}

/**
 * True when a forward with the `trainable` predicate saves `spec`: always, unless the spec is saved only for the
 * gradients of some parameters of its layer (`onlyFor`) and all of them are frozen. A spec named
 * `"blocks.0.mlp.fc1.input"` with `onlyFor: ["w"]` is saved iff `trainable("blocks.0.mlp.fc1.w")`.
 */
export function specSaved(spec: SavedSpec, trainable?: (name: string) => boolean): boolean {
  if (!trainable || !spec.onlyFor) return true;
  const dot = spec.name.lastIndexOf(".");
  const layer = dot < 0 ? "" : spec.name.slice(0, dot);
  return spec.onlyFor.some((p) => trainable(layer === "" ? p : `${layer}.${p}`));
}

/**
 * Applies `selector` to each spec (tags are the spec names) and predicts the packed bytes. With `trainable` (a
 * model's frozen set, see `ContextOptions.trainable`), specs a forward would not save are left out
 * ({@linkcode specSaved}).
 */
export function predictSaved(
  specs: SavedSpec[],
  selector: PolicySelector = keepAll,
  trainable?: (name: string) => boolean,
): PredictedSaved[] {
  return specs.filter((s) => specSaved(s, trainable)).map((s) => {
    const info = { tag: s.name, role: s.role, ...(s.groupAxis === undefined ? {} : { groupAxis: s.groupAxis }) };
    const policy = selector(info);
    return { ...s, policy: policy.name, bytes: policy.predictBytes(s.shape, s.dtype, info) };
  });
}

/** Total predicted bytes (see {@linkcode predictSaved}). */
export function predictSavedBytes(
  specs: SavedSpec[],
  selector: PolicySelector = keepAll,
  trainable?: (name: string) => boolean,
): number {
  return predictSaved(specs, selector, trainable).reduce((a, p) => a + p.bytes, 0);
}
