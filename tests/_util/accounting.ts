/**
 * Exact memory accounting for the tests: what the meter must see a training forward add, from the analytic saved
 * specs.
 * @module
 */
import type { SavedSpec } from "../../lib/nn/layer.ts";
import { keepAll, type PolicySelector } from "../../lib/nn/policy.ts";
import { predictSaved } from "../../lib/nn/analytic.ts";

/**
 * Roles whose kept tensor is a reshape of a batch tensor (token ids, targets, loss weights): it shares the batch's
 * buffer, which existed before the forward, so the meter (unique buffers) sees no new bytes for it.
 */
export const BATCH_ALIAS_ROLES: readonly string[] = ["embedding.ids", "loss.targets", "loss.weights"];

/**
 * The bytes the meter must see a training forward add (`forwardBytes`) when `selector` saves `specs`: the analytic
 * saved bytes minus the kept tensors that alias the batch's buffers, plus `stateBytes` created during the forward
 * (e.g. Mesa's running ranges on a tag's first pack).
 */
export function expectedForwardBytes(
  specs: SavedSpec[],
  selector: PolicySelector = keepAll,
  stateBytes = 0,
): number {
  const rows = predictSaved(specs, selector);
  const aliased = rows.filter((r) => r.policy === "keep" && BATCH_ALIAS_ROLES.includes(r.role));
  return rows.reduce((a, r) => a + r.bytes, 0) - aliased.reduce((a, r) => a + r.bytes, 0) + stateBytes;
}
