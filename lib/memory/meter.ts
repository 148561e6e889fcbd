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
}

const KEY = Symbol.for("memtrain.meter");

class Meter implements MemoryMeter {
  tensorBytes = 0;
  external = 0;
  peak = 0;
  get live(): number {
    return this.tensorBytes + this.external;
  }
  bump(): void {
    if (this.live > this.peak) this.peak = this.live;
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
