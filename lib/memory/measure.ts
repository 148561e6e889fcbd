/**
 * `measure(fn)`: result, peak bytes (logical, by the meter, and physical, by the physical meter), retained bytes and
 * wall time of one call.
 * @module
 */
import { meter } from "./meter.ts";
import { type PhysicalKind, physicalMeter } from "./physical.ts";

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
  /**
   * The physical high-water during the call, absolute (not above the start): on wasm and blas the wasm heap's break,
   * which includes free holes, allocator headers and the module's own allocations; elsewhere the process's RSS.
   */
  physicalPeakBytes: number;
  /** What `physicalPeakBytes` measures (`"wasm-heap"`, `"wasm-memory"` or `"rss"`). */
  physicalKind: PhysicalKind;
}

/**
 * Runs `fn` and reports its memory (unique tfjs buffers plus the external ledger; see `meter()`), the physical
 * high-water beside it (`physicalMeter()`: the wasm heap's break on wasm and blas) and time. The physical meter's
 * peak is reset at the start of the call.
 *
 * @example Usage
 * ```ts ignore
 * const { result, peakBytes, physicalPeakBytes } = await measure(() => trainer.step(batch));
 * ```
 */
export async function measure<T>(fn: () => T | Promise<T>): Promise<Measurement<T>> {
  const m = meter();
  const p = physicalMeter();
  const before = m.live;
  const outerPeak = m.peak;
  m.resetPeak();
  p.resetPeak();
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  const peakBytes = m.peak - before;
  const retainedBytes = m.live - before;
  const physicalPeakBytes = p.peak;
  if (outerPeak > m.peak) (m as unknown as { peak: number }).peak = outerPeak;
  return { result, peakBytes, retainedBytes, ms, physicalPeakBytes, physicalKind: p.kind };
}

/** Bytes to MiB. */
export function mib(bytes: number): number {
  return bytes / (1024 * 1024);
}
