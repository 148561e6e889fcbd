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

/** Applies `selector` to each spec (tags are the spec names) and predicts the packed bytes. */
export function predictSaved(specs: SavedSpec[], selector: PolicySelector = keepAll): PredictedSaved[] {
  return specs.map((s) => {
    const info = { tag: s.name, role: s.role, ...(s.groupAxis === undefined ? {} : { groupAxis: s.groupAxis }) };
    const policy = selector(info);
    return { ...s, policy: policy.name, bytes: policy.predictBytes(s.shape, s.dtype, info) };
  });
}

/** Total predicted bytes. */
export function predictSavedBytes(specs: SavedSpec[], selector: PolicySelector = keepAll): number {
  return predictSaved(specs, selector).reduce((a, p) => a + p.bytes, 0);
}
