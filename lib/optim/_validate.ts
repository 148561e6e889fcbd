/**
 * Private helpers shared by the optimizer files: construction-time argument checks with std-style messages
 * ("Cannot create adamw: 'lr' must be a positive number: current value is -1") and key checks for tensor maps.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** Formats a value for an error message: strings quoted, everything else as `String(value)`. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function number(fn: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot create ${fn}: '${name}' must be a number: current value is ${show(value)}`);
  }
  return value;
}

/** Checks `value` is a finite number > 0. */
export function checkPositive(fn: string, name: string, value: unknown): number {
  const v = number(fn, name, value);
  if (!(Number.isFinite(v) && v > 0)) {
    throw new RangeError(`Cannot create ${fn}: '${name}' must be a positive number: current value is ${show(v)}`);
  }
  return v;
}

/** Checks `value` is a finite number >= 0. */
export function checkNonNegative(fn: string, name: string, value: unknown): number {
  const v = number(fn, name, value);
  if (!(Number.isFinite(v) && v >= 0)) {
    throw new RangeError(`Cannot create ${fn}: '${name}' must be a non-negative number: current value is ${show(v)}`);
  }
  return v;
}

/** Checks `value` is a number in [0, 1) (decay rates such as `b1`, `b2`, `momentum`). */
export function checkDecay(fn: string, name: string, value: unknown): number {
  const v = number(fn, name, value);
  if (!(v >= 0 && v < 1)) {
    throw new RangeError(`Cannot create ${fn}: '${name}' must be in [0, 1): current value is ${show(v)}`);
  }
  return v;
}

/** Checks `value` is an integer >= `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): number {
  const v = number(fn, name, value);
  if (!(Number.isInteger(v) && v >= min)) {
    const what = min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer >= ${min}`;
    throw new RangeError(`Cannot create ${fn}: '${name}' must be ${what}: current value is ${show(v)}`);
  }
  return v;
}

/** Checks `value` is a boolean. */
export function checkBoolean(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot create ${fn}: '${name}' must be a boolean: current value is ${show(value)}`);
  }
  return value;
}

/** Checks `value` is a function. */
export function checkFunction<F>(fn: string, name: string, value: unknown): F {
  if (typeof value !== "function") {
    throw new TypeError(`Cannot create ${fn}: '${name}' must be a function: current value is ${show(value)}`);
  }
  return value as F;
}

/** A learning-rate schedule, `step -> lr` (structurally `Schedule` of `schedule.ts`, which imports this file). */
type StepFn = (step: number) => number;

/** Checks a learning rate: a positive finite number or a schedule function. */
export function checkLearningRate(fn: string, name: string, value: unknown): number | StepFn {
  if (typeof value === "function") return value as StepFn;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create ${fn}: '${name}' must be a number or a schedule function: current value is ${show(value)}`,
    );
  }
  return checkPositive(fn, name, value);
}

/**
 * Checks that `other` has exactly the keys of `ref` (same tensor maps, e.g. grads and a moment). Runs before any
 * tensor is made, so a mismatch leaks nothing.
 */
export function checkSameKeys(
  fn: string,
  refName: string,
  ref: Record<string, tf.Tensor>,
  otherName: string,
  other: Record<string, tf.Tensor> | undefined,
): void {
  if (other === null || typeof other !== "object") {
    throw new TypeError(`Cannot ${fn}: '${otherName}' must be a map of tensors: current value is ${show(other)}`);
  }
  for (const k in ref) {
    if (!(k in other)) {
      throw new TypeError(`Cannot ${fn}: '${otherName}' has no entry for '${k}', which '${refName}' has`);
    }
  }
  for (const k in other) {
    if (!(k in ref)) {
      throw new TypeError(`Cannot ${fn}: '${otherName}' has an entry for '${k}', which '${refName}' lacks`);
    }
  }
}

/** Checks that a state holds a numeric `count` (catches a missing `init()`). */
export function checkCount(fn: string, state: unknown): number {
  const count = (state as { count?: unknown } | null | undefined)?.count;
  if (typeof count !== "number") {
    throw new TypeError(
      `Cannot update ${fn}: 'state' must hold a numeric 'count' (call init() first): current value is ${show(state)}`,
    );
  }
  return count;
}
