/**
 * What a step's memory peak is made of: the tfjs buffers allocated while a function runs that are alive at its peak,
 * grouped by dtype and shape (the step-timeline experiment reports them per technique).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { meter } from "../../lib/memory/mod.ts";

/** Buffers of one dtype and shape alive at the peak. */
export interface BufferGroup {
  /** tfjs dtype (`bool` buffers are one byte per element: Mesa's 8-bit codes). */
  dtype: string;
  /** Shape of each buffer. */
  shape: number[];
  /** How many buffers of this dtype and shape. */
  count: number;
  /** Their bytes together, MiB. */
  mib: number;
}

/** The result of {@linkcode buffersAtPeak}. */
export interface PeakBuffers {
  /** The meter's live bytes at the peak (everything: also what existed before the function ran). */
  peakBytes: number;
  /** The groups of buffers allocated in the function and alive at the peak, largest first. */
  groups: BufferGroup[];
}

interface EngineHooks {
  state: { tensorInfo: WeakMap<object, { bytes: number }> };
  trackTensor(a: { dataId: object; shape: number[]; dtype: string }, backend: unknown): void;
  removeDataId(dataId: object, backend: unknown): void;
}

/**
 * Runs `fn` and returns the buffers it allocated that are alive at the highest `meter().live` seen when a buffer is
 * allocated (the peak of a step is reached at an allocation; bytes the meter's external ledger adds are not seen
 * here), grouped by dtype and shape, largest first. A buffer shared by several tensors counts once, as the meter
 * counts it.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { buffersAtPeak } from "./peak_buffers.ts";
 * import assert from "node:assert/strict";
 *
 * const { groups } = buffersAtPeak(() => {
 *   const a = tf.zeros([256, 256]), b = tf.zeros([256, 256]);
 *   tf.dispose([a, b]);
 *   tf.zeros([4]).dispose();
 * });
 * assert.deepEqual(groups, [{ dtype: "float32", shape: [256, 256], count: 2, mib: 0.5 }]);
 * ```
 */
export function buffersAtPeak(fn: () => void): PeakBuffers {
  const m = meter();
  const engine = tf.engine() as unknown as EngineHooks;
  const track = engine.trackTensor, remove = engine.removeDataId;
  const live = new Map<object, { dtype: string; shape: number[]; bytes: number }>();
  let peakBytes = m.live, atPeak: { dtype: string; shape: number[]; bytes: number }[] = [];
  engine.trackTensor = function (a, backend) {
    const isNew = !engine.state.tensorInfo.has(a.dataId);
    track.call(this, a, backend);
    if (!isNew) return;
    live.set(a.dataId, { dtype: a.dtype, shape: a.shape.slice(), bytes: engine.state.tensorInfo.get(a.dataId)!.bytes });
    if (m.live > peakBytes) {
      peakBytes = m.live;
      atPeak = [...live.values()];
    }
  };
  engine.removeDataId = function (dataId, backend) {
    live.delete(dataId);
    remove.call(this, dataId, backend);
  };
  try {
    fn();
  } finally {
    engine.trackTensor = track;
    engine.removeDataId = remove;
  }
  const by = new Map<string, BufferGroup & { bytes: number }>();
  for (const b of atPeak) {
    const key = `${b.dtype}[${b.shape}]`;
    const g = by.get(key) ?? { dtype: b.dtype, shape: b.shape, count: 0, mib: 0, bytes: 0 };
    g.count++;
    g.bytes += b.bytes;
    by.set(key, g);
  }
  const groups = [...by.values()].sort((x, y) => y.bytes - x.bytes || (x.dtype + x.shape < y.dtype + y.shape ? -1 : 1))
    .map(({ bytes, ...g }) => ({ ...g, mib: bytes / 2 ** 20 }));
  return { peakBytes, groups };
}
