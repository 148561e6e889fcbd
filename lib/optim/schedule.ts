/**
 * Learning-rate schedules: plain functions from the step count to a value, evaluated on the CPU (no tensors).
 * @module
 */
import { checkInteger, checkNonNegative, checkPositive } from "./_validate.ts";

/**
 * A value that depends on the step: `scaleByLearningRate` calls it with the number of updates done so far
 * (0 on the first update).
 *
 * @example Usage
 * ```ts
 * import type { Schedule } from "./schedule.ts";
 * import assert from "node:assert/strict";
 *
 * const halve: Schedule = (step) => 0.1 * 0.5 ** step;
 * assert.equal(halve(1), 0.05);
 * ```
 */
export type Schedule = (step: number) => number;

/**
 * A schedule that always returns `value`.
 *
 * @param value The constant, a finite number >= 0.
 * @returns The schedule.
 * @throws {RangeError} when `value` is negative or not finite.
 *
 * @example Usage
 * ```ts
 * import { constantSchedule } from "./schedule.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(constantSchedule(0.01)(1000), 0.01);
 * ```
 */
export function constantSchedule(value: number): Schedule {
  checkNonNegative("constantSchedule", "value", value);
  return () => value;
}

/** Options for {@linkcode warmupCosineSchedule}. */
export interface WarmupCosineScheduleOptions {
  /** The value reached at the end of warmup. */
  peak: number;
  /** Steps of linear warmup from `init` to `peak` (0 starts at `peak`). */
  warmupSteps: number;
  /** Total steps, warmup included; the cosine decay ends here and the value stays at `end` after it. */
  totalSteps: number;
  /** The value after `totalSteps`. @default {0} */
  end?: number;
  /** The value at step 0, the start of warmup. @default {0} */
  init?: number;
}

/**
 * Linear warmup from `init` to `peak` over `warmupSteps`, then a half-cosine decay from `peak` to `end` reached at
 * `totalSteps` (as optax's `warmup_cosine_decay_schedule`). With the default `init = 0` the first update (step 0)
 * has a zero learning rate.
 *
 * value(s) = init + (peak - init) * s / warmupSteps for s < warmupSteps, else
 * end + (peak - end) * (1 + cos(pi * min(s - warmupSteps, D) / D)) / 2 with D = totalSteps - warmupSteps.
 *
 * @param options Peak value, warmup and total steps, end and init values.
 * @returns The schedule.
 * @throws {RangeError} for a non-positive `peak`, negative `end`/`init`, non-integer step counts, or
 * `totalSteps <= warmupSteps`.
 *
 * @example Usage
 * ```ts
 * import { warmupCosineSchedule } from "./schedule.ts";
 * import assert from "node:assert/strict";
 *
 * const lr = warmupCosineSchedule({ peak: 1e-3, warmupSteps: 10, totalSteps: 110, end: 1e-5 });
 * assert.equal(lr(0), 0);
 * assert.equal(lr(5), 5e-4);
 * assert.ok(Math.abs(lr(10) - 1e-3) < 1e-15);
 * assert.equal(lr(110), 1e-5);
 * ```
 */
export function warmupCosineSchedule(options: WarmupCosineScheduleOptions): Schedule {
  const fn = "warmupCosineSchedule";
  const peak = checkPositive(fn, "peak", options?.peak);
  const warmupSteps = checkInteger(fn, "warmupSteps", options.warmupSteps, 0);
  const totalSteps = checkInteger(fn, "totalSteps", options.totalSteps, 1);
  const end = checkNonNegative(fn, "end", options.end ?? 0);
  const init = checkNonNegative(fn, "init", options.init ?? 0);
  if (totalSteps <= warmupSteps) {
    throw new RangeError(
      `Cannot create ${fn}: 'totalSteps' must be greater than 'warmupSteps' (${warmupSteps}): ` +
        `current value is ${totalSteps}`,
    );
  }
  const decaySteps = totalSteps - warmupSteps;
  return (step) => {
    const s = Math.max(0, step);
    if (s < warmupSteps) return init + (peak - init) * (s / warmupSteps);
    const t = Math.min(s - warmupSteps, decaySteps) / decaySteps;
    return end + (peak - end) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}
