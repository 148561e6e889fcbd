/**
 * Numeric assertions for tests (jsr:@std/assert is unreachable from the build machines; these pair with
 * `node:assert/strict`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { meter } from "../../lib/memory/meter.ts";

/** Tolerances for {@linkcode assertAllClose}. */
export interface CloseOptions {
  /** Absolute tolerance. @default {1e-6} */
  atol?: number;
  /** Relative tolerance (per element, against |expected|). @default {1e-5} */
  rtol?: number;
  /** Prefix for the failure message. */
  msg?: string;
}

function toArray(x: tf.Tensor | ArrayLike<number> | number): Float64Array {
  if (typeof x === "number") return Float64Array.of(x);
  if (x instanceof tf.Tensor) return Float64Array.from(x.dataSync() as ArrayLike<number>);
  return Float64Array.from(x);
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise (shapes must match for tensors). */
export function assertAllClose(
  actual: tf.Tensor | ArrayLike<number> | number,
  expected: tf.Tensor | ArrayLike<number> | number,
  options: CloseOptions = {},
): void {
  const { atol = 1e-6, rtol = 1e-5, msg = "" } = options;
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    if (actual.shape.join(",") !== expected.shape.join(",")) {
      throw new Error(`${msg}shape mismatch: actual [${actual.shape}] vs expected [${expected.shape}]`);
    }
  }
  const a = toArray(actual), e = toArray(expected);
  if (a.length !== e.length) throw new Error(`${msg}length mismatch: ${a.length} vs ${e.length}`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - e[i]);
    const tol = atol + rtol * Math.abs(e[i]);
    if (!(err <= tol) && (worst < 0 || err - tol > worstExcess)) {
      worst = i;
      worstExcess = err - tol;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${msg}not close at index ${worst}: actual ${a[worst]} vs expected ${e[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/**
 * Max relative error as used by the gradient checks: max|a - e| / max(max|e|, tiny). Normalizing by the tensor's
 * scale (not per element) keeps near-zero entries from dominating.
 */
export function maxRelError(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>): number {
  const a = toArray(actual as tf.Tensor), e = toArray(expected as tf.Tensor);
  if (a.length !== e.length) throw new Error(`length mismatch: ${a.length} vs ${e.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - e[i]));
    den = Math.max(den, Math.abs(e[i]));
  }
  if (Number.isNaN(num)) return Infinity;
  return num / Math.max(den, 1e-30);
}

/**
 * Norm-relative error `‖a − e‖₂ / ‖e‖₂`: sees a wrong scale (a gradient off by 2x has error 1) where a cosine does
 * not. 0 when both are all zero; Infinity for NaN or a mismatch against an all-zero `expected`.
 */
export function normRelError(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>): number {
  const a = toArray(actual as tf.Tensor), e = toArray(expected as tf.Tensor);
  if (a.length !== e.length) throw new Error(`length mismatch: ${a.length} vs ${e.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - e[i]) ** 2;
    den += e[i] ** 2;
  }
  if (Number.isNaN(num)) return Infinity;
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

/** Throws when `normRelError(actual[k], expected[k]) > tol` for any key, naming the worst. Returns the worst error. */
export function assertNormRelErrors(
  actual: Record<string, tf.Tensor>,
  expected: Record<string, tf.Tensor>,
  tol: number,
  msg = "",
): number {
  const keys = Object.keys(expected);
  if (Object.keys(actual).sort().join() !== keys.slice().sort().join()) {
    throw new Error(`${msg}keys differ: [${Object.keys(actual).sort()}] vs [${keys.slice().sort()}]`);
  }
  let worst = 0, at = "";
  for (const k of keys) {
    const err = normRelError(actual[k], expected[k]);
    if (!(err <= worst)) [worst, at] = [err, k];
  }
  if (!(worst <= tol)) {
    throw new Error(`${msg}norm-relative error ${worst.toExponential(3)} > ${tol} at ${at}`);
  }
  return worst;
}

/** Counts of what is live: tfjs tensors, the active backend's data buffers, and the meter's live bytes. */
export interface LiveCounts {
  /** `tf.memory().numTensors`. */
  tensors: number;
  /** Data buffers the active backend holds (`backend.numDataIds()`): also those no tensor refers to. */
  buffers: number;
  /** The meter's live bytes (unique tfjs buffers plus the external ledger). */
  bytes: number;
}

/** What is live now (see {@linkcode LiveCounts}). */
export function liveCounts(): LiveCounts {
  const backend = tf.engine().backend as unknown as { numDataIds(): number };
  return { tensors: tf.memory().numTensors, buffers: backend.numDataIds(), bytes: meter().live };
}

/**
 * Runs `fn` and asserts that it leaves nothing behind: the same number of live tfjs tensors, the same number of data
 * buffers in the backend (a kernel that allocates a scratch buffer and never frees it leaks a buffer but no tensor)
 * and the same live bytes in the meter. `fn` must not switch backends.
 */
export async function assertNoLeaks(fn: () => unknown | Promise<unknown>, msg = ""): Promise<void> {
  const backend = tf.engine().backend;
  const before = liveCounts();
  await fn();
  if (tf.engine().backend !== backend) throw new Error(`${msg}assertNoLeaks: fn switched the backend`);
  const after = liveCounts();
  if (after.tensors !== before.tensors) {
    throw new Error(`${msg}tensor leak: ${before.tensors} -> ${after.tensors} live tensors`);
  }
  if (after.buffers !== before.buffers) {
    throw new Error(`${msg}buffer leak: ${before.buffers} -> ${after.buffers} backend data buffers`);
  }
  if (after.bytes !== before.bytes) throw new Error(`${msg}byte leak: ${before.bytes} -> ${after.bytes} live bytes`);
}
