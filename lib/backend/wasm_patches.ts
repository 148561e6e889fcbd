/**
 * Fixes for the tfjs wasm backend (tfjs 4.22), applied once after `tf.setBackend("wasm")`.
 *
 * 1. `Identity` shares the input buffer (stock wasm copies it, so every tensor tfjs saves for backward is duplicated).
 * 2. `BatchMatMul` with `transposeA`/`transposeB` materializes the transpose and calls the fast kernel (the stock
 *    transposed path is 10-40x slower).
 * 3. `UnsortedSegmentSum` exists, so the gradient of `tf.gather` (embeddings) works on wasm.
 * 4. memtrain's fused kernels (every op in the kernel registry, `registry.ts`) are registered with the engine.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { installFusedKernels } from "./registry.ts";

interface WasmBackendLike {
  incRef(dataId: unknown): void;
  disposeData(dataId: unknown, force?: boolean): boolean;
  readSync(dataId: unknown): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const PATCHED = Symbol.for("memtrain.wasmPatched");

/**
 * Stock wasm BatchMatMul is fast (XNNPACK) only for a batch of 1; with batch > 1 it takes a slow loop
 * (0.6 GFLOP/s measured on [32,128,64] operands vs ~35 for one matrix). Run each batch entry as its own matrix
 * product, copying operands and results through the wasm heap. Expects non-transposed operands.
 */
function batchedAsMatrices(args: Parameters<tf.KernelFunc>[0], plain: tf.KernelFunc): tf.TensorInfo {
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const ra = a.shape.length, rb = b.shape.length;
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  if (batch === 1 || (batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
    return plain(args) as tf.TensorInfo;
  }
  const be = args.backend as unknown as WasmBackendLike;
  const [m, k] = a.shape.slice(ra - 2), n = b.shape[rb - 1];
  const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
  const out = be.makeOutput(outShape, "float32");
  const matrix = (src: tf.TensorInfo, i: number, rows: number, cols: number): tf.TensorInfo => {
    const t = be.makeOutput([rows, cols], "float32");
    const size = rows * cols;
    be.typedArrayFromHeap(t).set(be.typedArrayFromHeap(src).subarray(i * size, (i + 1) * size));
    return t;
  };
  const a0 = batchA === 1 ? matrix(a, 0, m, k) : undefined;
  const b0 = batchB === 1 ? matrix(b, 0, k, n) : undefined;
  for (let i = 0; i < batch; i++) {
    const ai = a0 ?? matrix(a, i, m, k), bi = b0 ?? matrix(b, i, k, n);
    const oi = plain({ ...args, inputs: { a: ai, b: bi } }) as tf.TensorInfo;
    be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(oi), i * m * n); // heap views re-read after each call
    be.disposeData(oi.dataId);
    if (!a0) be.disposeData(ai.dataId);
    if (!b0) be.disposeData(bi.dataId);
  }
  if (a0) be.disposeData(a0.dataId);
  if (b0) be.disposeData(b0.dataId);
  return out;
}

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
    if (!transposeA && !transposeB) return batchedAsMatrices(args, batchMatMul.kernelFunc);
    const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return transpose.kernelFunc({ inputs: { x: t }, attrs: { perm }, backend }) as tf.TensorInfo;
    };
    const a = transposeA ? swapLast(inputs.a as tf.TensorInfo) : inputs.a as tf.TensorInfo;
    const b = transposeB ? swapLast(inputs.b as tf.TensorInfo) : inputs.b as tf.TensorInfo;
    const out = batchedAsMatrices(
      { inputs: { a, b }, attrs: { ...attrs, transposeA: false, transposeB: false }, backend },
      batchMatMul.kernelFunc,
    );
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
  installFusedKernels();
  (globalThis as Record<symbol, unknown>)[PATCHED] = true;
}
