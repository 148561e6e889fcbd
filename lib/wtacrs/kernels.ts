/**
 * WTA-CRS's row kernels, registered as ops of the backend's kernel registry (group `"wtacrs"`, backend "wasm", so also
 * blas), each with its stock tfjs fallback:
 * - {@linkcode gatherRows}: rows `idx` of `x [N, C]` → `[k, C]`, one `copyWithin` (a memmove) per row on the wasm heap.
 *   The stock wasm `Gather` kernel walks elements one index computation at a time: 91 ms for 1,228 rows of 1,024
 *   floats against ~2 ms here (blas backend, this machine).
 * - {@linkcode gatherRowsScaled}: `dy[idx] · scale` (rows times their weights) → `[k, C]` in one pass; float32 products
 *   (a float32 product is exact in float64 and rounds once on the store), so bit-identical to the stock ops.
 * - {@linkcode rowNorms}: `‖x_i‖` per row of `[N, C]` in one pass (f32x4 sums of squares in WebAssembly SIMD when C
 *   is a multiple of 4, else a JS loop with float64 sums), against the stock `sqrt(sum(square(x)))`, which allocates
 *   an `[N, C]` temporary. Equal to it within float32 rounding of the summation order (tests/wtacrs/kernels_test.ts).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { f32, heapF32, heapIndex, heapOffset, i32, type KernelArgs, simdLoops, wasmOf } from "../backend/heap.ts";
import { fusedOp } from "../backend/registry.ts";
import { bump, F32, Fn, forLoop, hsum, I, I32, V128, vconst, whileBelow } from "../backend/wasm_asm.ts";

/**
 * `wtacrsRowNorms(x, out, n, c4)`: `out[i] = sqrt(Σ_j x[i, j]²)` for the float32 `[n, 4·c4]` rows at `x` (c4 ≥ 1), an
 * f32x4 sum of squares per row, then a lane sum and the square root.
 */
function rowNormsFn(): Fn {
  const f = new Fn("wtacrsRowNorms", [I32, I32, I32, I32]);
  const [x, out, n, c4] = [0, 1, 2, 3];
  const i = f.local(I32), ptr = f.local(I32), end = f.local(I32), acc = f.local(V128), v = f.local(V128);
  const s = f.local(F32);
  f.emit(I.get(x), I.set(ptr));
  forLoop(f, i, n, () => {
    f.emit(I.get(ptr), I.get(c4), I.i32(4), I.i32Shl, I.i32Add, I.set(end));
    vconst(f, 0);
    f.emit(I.set(acc));
    whileBelow(f, ptr, end, () => {
      f.emit(I.get(ptr), I.load(), I.tee(v), I.get(v), I.mul, I.get(acc), I.add, I.set(acc));
      bump(f, ptr, 16);
    });
    hsum(f, acc);
    f.emit(I.f32Sqrt, I.set(s));
    f.emit(I.get(out), I.get(i), I.i32(2), I.i32Shl, I.i32Add, I.get(s), I.f32Store());
  });
  return f;
}

const simd = simdLoops<{ wtacrsRowNorms(x: number, out: number, n: number, c4: number): void }>(() => [rowNormsFn()]);

function checkRows(kernel: string, x: tf.TensorInfo, idx: tf.TensorInfo): [number, number, number] {
  if (x.shape.length !== 2 || x.dtype !== "float32" || idx.shape.length !== 1 || idx.dtype !== "int32") {
    throw new TypeError(`${kernel}: expected float32 [N, C] rows and int32 [k] indices: [${x.shape}], [${idx.shape}]`);
  }
  return [x.shape[0], x.shape[1], idx.shape[0]];
}

function checkIndex(kernel: string, i: number, n: number): void {
  if (!(i >= 0 && i < n)) throw new RangeError(`${kernel}: row index ${i} is outside [0, ${n})`);
}

/**
 * Rows `indices` of `x [N, C]` as a new `[k, C]` tensor (like `tf.gather(x, indices)`).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gatherRows } from "./kernels.ts";
 * const rows = gatherRows(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([2, 0, 2], "int32"));
 * rows.arraySync(); // [[5, 6], [1, 2], [5, 6]]
 * ```
 */
export const gatherRows = fusedOp({
  name: "MemtrainWtacrsGatherRows",
  group: "wtacrs",
  kernel: () => (args: KernelArgs) => {
    const be = wasmOf(args);
    const { x, indices } = args.inputs as Record<string, tf.TensorInfo>;
    const [n, c, k] = checkRows("MemtrainWtacrsGatherRows", x, indices);
    const out = be.makeOutput([k, c], "float32");
    const heap = heapF32(be), xi = heapIndex(be, x), oi = heapIndex(be, out), idx = i32(be, indices);
    for (let t = 0; t < k; t++) {
      const i = idx[t];
      checkIndex("MemtrainWtacrsGatherRows", i, n);
      heap.copyWithin(oi + t * c, xi + i * c, xi + (i + 1) * c);
    }
    return out;
  },
  fused: (run, x: tf.Tensor2D, indices: tf.Tensor1D) => run<tf.Tensor2D>({ x, indices }),
  stock: (x: tf.Tensor2D, indices: tf.Tensor1D) => tf.gather(x, indices) as tf.Tensor2D,
  accepts: (x: tf.Tensor2D, indices: tf.Tensor1D) => x.dtype === "float32" && x.rank === 2 && indices.dtype === "int32",
});

/**
 * `dy[indices[t]] · scales[t]` for each kept row t: `[k, C]` (like `tf.mul(tf.gather(dy, indices), scales[:, None])`).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { gatherRowsScaled } from "./kernels.ts";
 * const dy = tf.tensor2d([[1, 2], [3, 4]]);
 * gatherRowsScaled(dy, tf.tensor1d([1, 1], "int32"), tf.tensor1d([0.5, 2])).arraySync(); // [[1.5, 2], [6, 8]]
 * ```
 */
export const gatherRowsScaled = fusedOp({
  name: "MemtrainWtacrsGatherRowsScaled",
  group: "wtacrs",
  kernel: () => (args: KernelArgs) => {
    const be = wasmOf(args);
    const { x, indices, scales } = args.inputs as Record<string, tf.TensorInfo>;
    const [n, c, k] = checkRows("MemtrainWtacrsGatherRowsScaled", x, indices);
    if (scales.dtype !== "float32" || scales.shape.length !== 1 || scales.shape[0] !== k) {
      throw new TypeError(`MemtrainWtacrsGatherRowsScaled: expected float32 [${k}] scales: [${scales.shape}]`);
    }
    const out = be.makeOutput([k, c], "float32");
    const heap = heapF32(be), xi = heapIndex(be, x), oi = heapIndex(be, out);
    const idx = i32(be, indices), s = f32(be, scales);
    for (let t = 0; t < k; t++) {
      const i = idx[t], w = s[t];
      checkIndex("MemtrainWtacrsGatherRowsScaled", i, n);
      const src = xi + i * c, dst = oi + t * c;
      for (let j = 0; j < c; j++) heap[dst + j] = heap[src + j] * w;
    }
    return out;
  },
  fused: (run, x: tf.Tensor2D, indices: tf.Tensor1D, scales: tf.Tensor1D) => run<tf.Tensor2D>({ x, indices, scales }),
  stock: (x: tf.Tensor2D, indices: tf.Tensor1D, scales: tf.Tensor1D) =>
    tf.tidy(() => tf.mul(tf.gather(x, indices), scales.reshape([-1, 1])) as tf.Tensor2D),
  accepts: (x: tf.Tensor2D, indices: tf.Tensor1D, scales: tf.Tensor1D) =>
    x.dtype === "float32" && x.rank === 2 && indices.dtype === "int32" && scales.dtype === "float32",
});

/**
 * The Euclidean norm of each row of `x [N, C]`: `[N]` (like `tf.sqrt(tf.sum(tf.square(x), 1))`).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rowNorms } from "./kernels.ts";
 * rowNorms(tf.tensor2d([[3, 4], [0, 0]])).arraySync(); // [5, 0]
 * ```
 */
export const rowNorms = fusedOp({
  name: "MemtrainWtacrsRowNorms",
  group: "wtacrs",
  kernel: () => (args: KernelArgs) => {
    const be = wasmOf(args);
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    if (x.shape.length !== 2 || x.dtype !== "float32") {
      throw new TypeError(`MemtrainWtacrsRowNorms: expected float32 [N, C]: [${x.shape}] ${x.dtype}`);
    }
    const [n, c] = x.shape;
    const out = be.makeOutput([n], "float32");
    const sk = simd(be);
    if (sk && c > 0 && c % 4 === 0) {
      sk.wtacrsRowNorms(heapOffset(be, x), heapOffset(be, out), n, c >>> 2);
      return out;
    }
    const heap = heapF32(be), xi = heapIndex(be, x), o = f32(be, out);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = xi + i * c, e = j + c; j < e; j++) sum += heap[j] * heap[j];
      o[i] = Math.sqrt(sum);
    }
    return out;
  },
  fused: (run, x: tf.Tensor2D) => run<tf.Tensor1D>({ x }),
  stock: (x: tf.Tensor2D) => tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), 1)) as tf.Tensor1D),
  accepts: (x: tf.Tensor2D) => x.dtype === "float32" && x.rank === 2,
});
