/**
 * A memory meter that counts what is really held: unique tfjs data buffers plus bytes memtrain holds outside tfjs.
 *
 * `tf.memory().numBytes` and `tf.profile().peakBytes` count bytes per Tensor object, so clones and reshapes that
 * share one buffer are counted again and again. The meter wraps the engine's `trackTensor` / `removeDataId` to count
 * each buffer once, and keeps a ledger for external bytes (e.g. 8-bit activations in a `Uint8Array`).
 * Kernel-internal scratch buffers that never become tensors are not seen.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface EngineLike {
  state: { tensorInfo: WeakMap<object, { bytes: number; backend: unknown }> };
  trackTensor(a: { dataId: object }, backend: unknown): void;
  removeDataId(dataId: object, backend: unknown): void;
}

/** Live and peak bytes, process-wide. */
export interface MemoryMeter {
  /** Bytes of live unique tfjs buffers plus ledger bytes. */
  readonly live: number;
  /** Highest `live` since the last {@linkcode MemoryMeter.resetPeak}. */
  readonly peak: number;
  /** Bytes currently in the external ledger. */
  readonly external: number;
  /** Sets `peak` to the current `live`. */
  resetPeak(): void;
  /** Records `bytes` held outside tfjs (negative to release). */
  addExternal(bytes: number): void;
  /**
   * Starts recording a timeline (see {@linkcode MemoryMeter.mark}); a running one is discarded. Off by default: then
   * `mark` does nothing.
   */
  startTimeline(): void;
  /** While a timeline records: ends the current span and starts one named `label`. */
  mark(label: string): void;
  /** Ends the timeline and returns its spans in order (empty when none was recording). */
  stopTimeline(): TimelineSpan[];
}

/** One span of a timeline: from one {@linkcode MemoryMeter.mark} to the next. */
export interface TimelineSpan {
  /** The mark that started it (`"start"` before the first mark). */
  label: string;
  /** `live` when it started, bytes. */
  start: number;
  /** The highest `live` within it, bytes. */
  peak: number;
  /** `live` when it ended, bytes. */
  end: number;
}

const KEY = Symbol.for("memtrain.meter");

class Meter implements MemoryMeter {
  tensorBytes = 0;
  external = 0;
  peak = 0;
  spans: TimelineSpan[] | undefined;
  span: TimelineSpan | undefined;
  get live(): number {
    return this.tensorBytes + this.external;
  }
  bump(): void {
    const live = this.live;
    if (live > this.peak) this.peak = live;
    if (this.span && live > this.span.peak) this.span.peak = live;
  }
  startTimeline(): void {
    this.spans = [];
    this.span = { label: "start", start: this.live, peak: this.live, end: this.live };
  }
  mark(label: string): void {
    if (!this.span) return;
    this.span.end = this.live;
    this.spans!.push(this.span);
    this.span = { label, start: this.live, peak: this.live, end: this.live };
  }
  stopTimeline(): TimelineSpan[] {
    if (!this.span) return [];
    this.mark("");
    const out = this.spans!;
    this.spans = this.span = undefined;
    return out;
  }
  resetPeak(): void {
    this.peak = this.live;
  }
  addExternal(bytes: number): void {
    this.external += bytes;
    this.bump();
  }
}

/**
 * Installs the meter on the tfjs engine (idempotent) and returns it. Buffers that existed before installation are not
 * counted, so install it early (memtrain's `initBackend` does). Measurements are differences of `live`.
 *
 * @example Usage
 * ```ts ignore
 * const m = meter();
 * const before = m.live;
 * const t = tf.ones([256]);      // +1 KiB
 * const u = t.clone();           // shares the buffer: +0
 * console.log(m.live - before);  // 1024
 * ```
 */
export function meter(): MemoryMeter {
  const g = globalThis as Record<symbol, Meter | undefined>;
  const existing = g[KEY];
  if (existing) return existing;
  const m = new Meter();
  const engine = tf.engine() as unknown as EngineLike;
  const track = engine.trackTensor.bind(engine);
  const remove = engine.removeDataId.bind(engine);
  const seen = new WeakMap<object, number>(); // dataId -> bytes counted
  engine.trackTensor = (a, backend) => {
    const isNew = !engine.state.tensorInfo.has(a.dataId);
    track(a, backend);
    if (isNew) {
      const info = engine.state.tensorInfo.get(a.dataId);
      if (info) {
        seen.set(a.dataId, info.bytes);
        m.tensorBytes += info.bytes;
        m.bump();
      }
    }
  };
  engine.removeDataId = (dataId, backend) => {
    const info = engine.state.tensorInfo.get(dataId);
    const bytes = seen.get(dataId);
    remove(dataId, backend);
    if (bytes !== undefined && info !== undefined && info.backend === backend) {
      seen.delete(dataId);
      m.tensorBytes -= bytes;
    }
  };
  g[KEY] = m;
  return m;
}
