/**
 * `measure(fn)`: result, peak bytes, retained bytes and wall time of one call.
 * @module
 */
import { meter } from "./meter.ts";

/** What {@linkcode measure} returns. */
export interface Measurement<T> {
  /** `fn`'s result. */
  result: T;
  /** Highest live bytes during the call, above the live bytes at its start. */
  peakBytes: number;
  /** Live bytes after the call minus before (what the call left allocated, e.g. its result). */
  retainedBytes: number;
  /** Wall time in milliseconds. */
  ms: number;
}

/**
 * Runs `fn` and reports its memory (unique tfjs buffers plus the external ledger; see `meter()`) and time.
 *
 * @example Usage
 * ```ts ignore
 * const { result, peakBytes } = await measure(() => trainer.step(batch));
 * ```
 */
export async function measure<T>(fn: () => T | Promise<T>): Promise<Measurement<T>> {
  const m = meter();
  const before = m.live;
  const outerPeak = m.peak;
  m.resetPeak();
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  const peakBytes = m.peak - before;
  const retainedBytes = m.live - before;
  if (outerPeak > m.peak) (m as unknown as { peak: number }).peak = outerPeak;
  return { result, peakBytes, retainedBytes, ms };
}

/** Bytes to MiB. */
export function mib(bytes: number): number {
  return bytes / (1024 * 1024);
}
