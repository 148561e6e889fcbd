/**
 * The analytic count of saved-activation bytes: what a training forward should hold for backward, from shapes and
 * the policies a selector picks. Tests hold the meter's measurement against it.
 *
 * These are logical bytes, what the meter counts. The process's wasm heap (the physical meter, `heapPeakMiB` in the
 * memory experiment) holds more, and the overhead comes from five places (README, "Memory as the process sees
 * it", for the measured sizes):
 * - holes between blocks at the step's peak (fragmentation): with the heap plan (`heap: "plan"`, the default) what
 *   the plan of the first step cannot pack, 3-15% of the meter's peak on blas at steady state (the most where the
 *   peak is the AdamW update: its carried blocks take two layouts); with emmalloc alone (`heap: "stock"`) 15-34%,
 *   still growing after 8 steps on some rows, since it never gives memory back and small blocks pin large holes apart;
 * - the module's own C++ allocations, which no tensor owns: ~1 MiB on blas (one map node per registered tensor, and
 *   the room the arena keeps for them), on plain wasm the transient buffers of XNNPACK's matrix products as well;
 * - rounding: every block is a multiple of 8 bytes in the arena (emmalloc: 4, plus an 8-byte header);
 * - static data and stack below the heap: ~90 KiB;
 * - outside the heap, not in the break: OpenBLAS's buffers, the JS heap and the code (the process's RSS).
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
