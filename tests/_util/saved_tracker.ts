/**
 * Measures what is held for backward at every moment of a step, to hold `predictPeakSavedBytes` to an exact count.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type ActivationPolicy, dtypeBytes, type PolicySelector, type SavedInfo } from "../../lib/nn/policy.ts";

/** A selector whose policies report every pack, dispose and segment-input reload to a running count. */
export interface SavedTracker {
  /** Use this in `backprop({ selector })`: the inner selector's choices, instrumented. */
  readonly selector: PolicySelector;
  /** Bytes held now: live packed forms plus reloaded segment inputs not yet freed. */
  held(): number;
  /** The largest {@linkcode SavedTracker.held} seen since creation or the last {@linkcode SavedTracker.reset}. */
  readonly peak: number;
  /** Sets the peak to the current held bytes. */
  reset(): void;
}

/**
 * Wraps `inner` so the bytes held for backward can be followed: a packed form counts (its policy's `bytes`) from
 * `pack` until `dispose`; a checkpointed segment's input (role `checkpoint.input`) unpacked in backward counts until
 * the segment frees the tensor, since the segment holds it while it recomputes. The peak is sampled after every pack,
 * the only moment the held bytes grow.
 */
export function trackSaved(inner: PolicySelector): SavedTracker {
  const live = new Map<unknown, number>(); // packed form -> bytes
  const reloaded = new Set<tf.Tensor>();
  let peak = 0;
  const held = () => {
    let n = 0;
    for (const b of live.values()) n += b;
    for (const t of reloaded) {
      if (t.isDisposed) reloaded.delete(t);
      else n += t.size * dtypeBytes(t.dtype);
    }
    return n;
  };
  const wrapped = new Map<ActivationPolicy, ActivationPolicy>();
  const wrap = (p: ActivationPolicy): ActivationPolicy => {
    let w = wrapped.get(p);
    if (w) return w;
    w = {
      name: p.name,
      exact: p.exact,
      pack(t: tf.Tensor, info: SavedInfo) {
        const packed = p.pack(t, info);
        const bytes = p.bytes(packed);
        if (bytes > 0) {
          if (typeof packed !== "object" || packed === null || live.has(packed)) {
            throw new Error(`trackSaved: "${info.tag}" packed to a form that cannot be followed`);
          }
          live.set(packed, bytes);
        }
        peak = Math.max(peak, held());
        return packed;
      },
      unpack(packed: unknown, info: SavedInfo) {
        const t = p.unpack(packed, info);
        if (info.role === "checkpoint.input") reloaded.add(t);
        return t;
      },
      bytes: (packed: unknown) => p.bytes(packed),
      predictBytes: (shape, dtype, info) => p.predictBytes(shape, dtype, info),
      dispose(packed: unknown) {
        live.delete(packed);
        p.dispose(packed);
      },
      ...(p.weightGrad ? { weightGrad: p.weightGrad.bind(p) } : {}),
    };
    wrapped.set(p, w);
    return w;
  };
  return {
    selector: (info) => wrap(inner(info)),
    held,
    get peak() {
      return peak;
    },
    reset() {
      peak = held();
    },
  };
}
