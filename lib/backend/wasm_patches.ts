/**
 * Fixes for the tfjs wasm backend (tfjs 4.22), applied once after `tf.setBackend("wasm")`.
 *
 * 1. `Identity` shares the input buffer (stock wasm copies it, so every tensor tfjs saves for backward is duplicated).
 * 2. `BatchMatMul` with `transposeA`/`transposeB` materializes the transpose and calls the fast kernel (the stock
 *    transposed path is 10-40x slower).
 * 3. `UnsortedSegmentSum` exists, so the gradient of `tf.gather` (embeddings) works on wasm.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  incRef(dataId: unknown): void;
  disposeData(dataId: unknown, force?: boolean): boolean;
  readSync(dataId: unknown): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const PATCHED = Symbol.for("memtrain.wasmPatched");

/** True once {@linkcode patchWasm} has run in this process. */
export function isWasmPatched(): boolean {
  return (globalThis as Record<symbol, unknown>)[PATCHED] === true;
}

function replaceKernel(name: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(name, "wasm") !== undefined) tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc });
}

/**
 * Applies the wasm fixes. Idempotent; call after the wasm backend is active.
 *
 * @example Usage
 * ```ts ignore
 * await tf.setBackend("wasm");
 * patchWasm();
 * ```
 */
export function patchWasm(): void {
  if (isWasmPatched()) return;
  replaceKernel("Identity", ({ inputs, backend }) => {
    const x = inputs.x as tf.TensorInfo;
    (backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });

  const batchMatMul = tf.getKernel("BatchMatMul", "wasm")!;
  const transpose = tf.getKernel("Transpose", "wasm")!;
  replaceKernel("BatchMatMul", (args) => {
    const { inputs, attrs, backend } = args;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return batchMatMul.kernelFunc(args);
    const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return transpose.kernelFunc({ inputs: { x: t }, attrs: { perm }, backend }) as tf.TensorInfo;
    };
    const a = transposeA ? swapLast(inputs.a as tf.TensorInfo) : inputs.a as tf.TensorInfo;
    const b = transposeB ? swapLast(inputs.b as tf.TensorInfo) : inputs.b as tf.TensorInfo;
    const out = batchMatMul.kernelFunc({
      inputs: { a, b },
      attrs: { ...attrs, transposeA: false, transposeB: false },
      backend,
    });
    const be = backend as unknown as WasmBackendLike;
    if (transposeA) be.disposeData(a.dataId);
    if (transposeB) be.disposeData(b.dataId);
    return out;
  });

  replaceKernel("UnsortedSegmentSum", ({ inputs, attrs, backend }) => {
    const be = backend as unknown as WasmBackendLike;
    const x = inputs.x as tf.TensorInfo;
    const segmentIds = inputs.segmentIds as tf.TensorInfo;
    const { numSegments } = attrs as unknown as { numSegments: number };
    const xs = be.typedArrayFromHeap(x);
    const ids = be.typedArrayFromHeap(segmentIds);
    const n = ids.length;
    const inner = n === 0 ? 0 : xs.length / n; // x: [n, ...inner]
    const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
    const out = be.makeOutput(outShape, x.dtype);
    const o = be.typedArrayFromHeap(out);
    o.fill(0);
    for (let i = 0; i < n; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const src = i * inner, dst = s * inner;
      for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
    }
    return out;
  });
  (globalThis as Record<symbol, unknown>)[PATCHED] = true;
}
