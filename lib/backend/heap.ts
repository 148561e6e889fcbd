/**
 * Shared pieces for kernels that work on tfjs's wasm heap directly: tensor offsets and the per-backend instances of
 * memtrain's SIMD loop modules (`simd.ts`).
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** The parts of tfjs's wasm backend these helpers use. */
export interface WasmHeapBackend {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
}

/** A tensor's byte offset in the wasm heap. */
export function heapOffset(be: WasmHeapBackend, t: tf.TensorInfo): number {
  return be.dataIdMap.get(t.dataId).memoryOffset;
}

const SIMD = Symbol.for("memtrain.fusedSimd");

/** False after `setFusedSimd(false)` (`fused.ts`): the fused kernels then run their JS loops. */
export function fusedSimdEnabled(): boolean {
  return (globalThis as Record<symbol, unknown>)[SIMD] !== false;
}

/** Sets the flag {@linkcode fusedSimdEnabled} reads; returns the previous value. */
export function setFusedSimdFlag(enabled: boolean): boolean {
  const previous = fusedSimdEnabled();
  (globalThis as Record<symbol, unknown>)[SIMD] = enabled;
  return previous;
}

/**
 * The SIMD loop module `make` instantiated on `be`'s memory (cached in `cache` per backend), or null when SIMD is off
 * or `make` returns null (no WebAssembly SIMD).
 */
export function simdFor<K>(
  be: WasmHeapBackend,
  cache: WeakMap<object, K | null>,
  make: (memory: WebAssembly.Memory) => K | null,
): K | null {
  if (!fusedSimdEnabled()) return null;
  let k = cache.get(be);
  if (k === undefined) {
    const memory = be.wasm.asm?.memory;
    k = memory instanceof WebAssembly.Memory ? make(memory) : null;
    cache.set(be, k);
  }
  return k;
}
