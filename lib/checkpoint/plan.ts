/**
 * Checkpoint plans: how a model's blocks are grouped into {@linkcode CheckpointSegment}s, as a `TrunkTransform` for
 * `backprop({ trunk })`.
 *
 * References: Chen, Xu, Zhang, Guestrin, "Training Deep Nets with Sublinear Memory Cost", arXiv:1604.06174 (2016).
 * @module
 */
import type { Layer, TrunkTransform } from "../nn/layer.ts";
import { CheckpointSegment } from "./segment.ts";

/**
 * How to group `n` blocks into segments:
 * - `"none"`: no checkpointing (no segments);
 * - `"every"`: one segment per block (keeps every block input; one extra forward);
 * - `"sqrt"`: `⌈√n⌉` segments of near-equal size (Chen et al.'s default, `O(√n)` memory);
 * - `{ every: k }`: segments of `k` blocks (the last may be shorter);
 * - `{ segments: [s0, s1, …] }`: explicit segment sizes, summing to `n`.
 *
 * @example Usage
 * ```ts
 * import { type CheckpointPlan, planSegments } from "./plan.ts";
 * import assert from "node:assert/strict";
 *
 * const plan: CheckpointPlan = { segments: [1, 3] };
 * assert.deepEqual(planSegments(4, plan), [1, 3]);
 * ```
 */
export type CheckpointPlan = "none" | "every" | "sqrt" | { every: number } | { segments: number[] };

/** Options for {@linkcode checkpoint}. */
export interface CheckpointOptions {
  /** The plan. */
  plan: CheckpointPlan;
  /**
   * Which trunk layers may be checkpointed; they must be consecutive. @default {layers named `blocks.<i>`: embedding
   * and head stay outside segments, they are cheap and irregular}
   */
  include?: (layer: Layer) => boolean;
}

const PLAN_NAMES = `"none", "every", "sqrt", { every: k } or { segments: [sizes] }`;

/**
 * Layers whose name starts with `"blocks."`: the default of {@linkcode CheckpointOptions.include}.
 *
 * @example Usage
 * ```ts
 * import { isBlock } from "./plan.ts";
 * import { Linear } from "../nn/linear.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isBlock(new Linear("blocks.3", 2, 2)), true);
 * assert.equal(isBlock(new Linear("head", 2, 2)), false);
 * ```
 */
export function isBlock(layer: Layer): boolean {
  return layer.name.startsWith("blocks.");
}

function show(value: unknown): string {
  if (typeof value === "string" || (typeof value === "object" && value !== null)) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return typeof value === "function" ? "a function" : String(value);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** Checks the parts of a plan that do not depend on the block count. */
function validatePlan(plan: unknown): CheckpointPlan {
  if (plan === "none" || plan === "every" || plan === "sqrt") return plan;
  if (typeof plan === "object" && plan !== null && !Array.isArray(plan)) {
    const keys = Object.keys(plan);
    if (keys.length === 1 && keys[0] === "every") {
      const k = (plan as { every: unknown }).every;
      if (!isPositiveInt(k)) {
        throw new RangeError(
          `Cannot plan checkpoint segments: 'every' must be a positive integer: current value is ${show(k)}`,
        );
      }
      return plan as { every: number };
    }
    if (keys.length === 1 && keys[0] === "segments") {
      const s = (plan as { segments: unknown }).segments;
      if (!Array.isArray(s)) {
        throw new RangeError(
          `Cannot plan checkpoint segments: 'segments' must be an array of sizes: current value is ${show(s)}`,
        );
      }
      const bad = s.findIndex((v) => !isPositiveInt(v));
      if (bad >= 0) {
        throw new RangeError(
          `Cannot plan checkpoint segments: 'segments[${bad}]' must be a positive integer: current value is ${
            show(s[bad])
          }`,
        );
      }
      return plan as { segments: number[] };
    }
  }
  throw new RangeError(`Cannot plan checkpoint segments: plan must be ${PLAN_NAMES}: current value is ${show(plan)}`);
}

/**
 * Segment sizes for `n` blocks under `plan` (pure; for plotting memory against depth). `"none"` gives `[]`.
 *
 * @param n Number of blocks (a non-negative integer).
 * @param plan The plan.
 * @returns Positive sizes summing to `n` (empty for `"none"` or `n = 0`).
 * @throws {RangeError} when `n` or the plan is invalid, or explicit `segments` do not sum to `n` (the message names
 * the value).
 *
 * @example Usage
 * ```ts
 * import { planSegments } from "./plan.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(planSegments(8, "sqrt"), [3, 3, 2]);
 * assert.deepEqual(planSegments(5, { every: 2 }), [2, 2, 1]);
 * assert.deepEqual(planSegments(3, "every"), [1, 1, 1]);
 * assert.deepEqual(planSegments(3, "none"), []);
 * ```
 */
export function planSegments(n: number, plan: CheckpointPlan): number[] {
  if (!(Number.isInteger(n) && n >= 0)) {
    throw new RangeError(`Cannot plan checkpoint segments: 'n' must be a non-negative integer: current value is ${n}`);
  }
  const p = validatePlan(plan);
  if (p === "none" || n === 0) {
    if (typeof p === "object" && "segments" in p && p.segments.length !== 0) sumCheck(p.segments, n);
    return [];
  }
  if (p === "every") return Array.from({ length: n }, () => 1);
  if (p === "sqrt") {
    const k = Math.ceil(Math.sqrt(n));
    const base = Math.floor(n / k), extra = n % k;
    return Array.from({ length: k }, (_, i) => base + (i < extra ? 1 : 0));
  }
  if ("every" in p) {
    const out: number[] = [];
    for (let left = n; left > 0; left -= p.every) out.push(Math.min(p.every, left));
    return out;
  }
  sumCheck(p.segments, n);
  return p.segments.slice();
}

function sumCheck(sizes: readonly number[], n: number): void {
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (sum !== n) {
    throw new RangeError(
      `Cannot plan checkpoint segments: 'segments' must sum to the block count ${n}: current value is ${
        show(sizes)
      } (sum ${sum})`,
    );
  }
}

/**
 * A trunk transform that wraps the model's blocks into checkpointed segments following `plan`, for
 * `backprop({ trunk: checkpoint("sqrt") })`. Layers outside `include` (by default the embedding and the head) stay
 * as they are; parameter paths and gradients are unchanged.
 *
 * @param plan A {@linkcode CheckpointPlan}, or {@linkcode CheckpointOptions} with a custom `include` predicate.
 * @returns The transform. The plan is validated at once; explicit `segments` are checked against the block count
 * when the transform runs.
 * @throws {RangeError} for an invalid plan (the message names the value and lists the valid plans); from the
 * transform, when the included layers are not consecutive or `segments` do not sum to their count.
 *
 * @example Usage
 * ```ts
 * import { checkpoint } from "./plan.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, layers: 4 });
 * const trunk = checkpoint("sqrt")(gpt.layers);
 * assert.deepEqual(trunk.map((l) => l.name), [
 *   "embed",
 *   "checkpoint[blocks.0..blocks.1]",
 *   "checkpoint[blocks.2..blocks.3]",
 *   "head",
 * ]);
 * // Training: backprop({ trunk: checkpoint("sqrt") }).lossAndGrads(gpt, batch)
 * ```
 */
export function checkpoint(plan: CheckpointPlan | CheckpointOptions): TrunkTransform {
  const options: CheckpointOptions = typeof plan === "object" && plan !== null && "plan" in plan
    ? plan
    : { plan: plan as CheckpointPlan };
  const p = validatePlan(options.plan);
  const include = options.include ?? isBlock;
  if (typeof include !== "function") {
    throw new TypeError(
      `Cannot plan checkpoint segments: 'include' must be a function: current value is ${show(include)}`,
    );
  }
  return (layers: readonly Layer[]): Layer[] => {
    const picked = layers.map((l) => include(l));
    const first = picked.indexOf(true);
    const last = picked.lastIndexOf(true);
    if (first < 0) {
      planSegments(0, p); // explicit segments must then be empty
      return layers.slice();
    }
    const gap = picked.slice(first, last + 1).indexOf(false);
    if (gap >= 0) {
      throw new RangeError(
        `Cannot plan checkpoint segments: the included layers must be consecutive: "${
          layers[first + gap].name
        }" is not included but lies between "${layers[first].name}" and "${layers[last].name}"`,
      );
    }
    const sizes = planSegments(last - first + 1, p);
    if (sizes.length === 0) return layers.slice();
    const out: Layer[] = layers.slice(0, first);
    let at = first;
    for (const size of sizes) {
      out.push(new CheckpointSegment(layers.slice(at, at + size)));
      at += size;
    }
    return [...out, ...layers.slice(last + 1)];
  };
}
