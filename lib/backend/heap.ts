/**
 * Shared pieces for kernels that work on tfjs's wasm heap directly (the fused kernels of `lib/nn/kernels`,
 * `lib/mesa` and `lib/optim`): the backend's surface they use, typed views of tensors, the input checks, and
 * {@linkcode simdLoops}, which instantiates a SIMD loop module (`wasm_asm.ts`) on the backend's memory.
 *
 * Views must be (re)taken after every allocation: `makeOutput` may grow the heap and detach old views.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assemble, type Fn } from "./wasm_asm.ts";
import { backendOptions } from "./options.ts";

/** The parts of tfjs's wasm backend the heap kernels use. */
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: unknown, force?: boolean): boolean;
}

/** A kernel function's argument. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The wasm backend of a kernel call. */
export function wasmOf(args: KernelArgs): WasmBackendLike {
  return args.backend as unknown as WasmBackendLike;
}

/**
 * The stock wasm kernel `name` (e.g. `Sigmoid`), for fused kernels that call it on heap scratch buffers.
 * @throws {Error} when the wasm backend is not loaded.
 */
export function stockKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, "wasm");
  if (!k) {
    throw new Error(`Cannot install the fused kernels: wasm kernel ${name} is missing (import the wasm backend first)`);
  }
  return k.kernelFunc;
}

/** A tensor's byte offset in the wasm heap. */
export function heapOffset(be: Pick<WasmBackendLike, "dataIdMap">, t: tf.TensorInfo): number {
  return be.dataIdMap.get(t.dataId).memoryOffset;
}

/** A float32 tensor's elements as a heap view. */
export function f32(be: WasmBackendLike, t: tf.TensorInfo): Float32Array {
  return be.typedArrayFromHeap(t) as Float32Array;
}

/** An int32 tensor's elements as a heap view. */
export function i32(be: WasmBackendLike, t: tf.TensorInfo): Int32Array {
  return be.typedArrayFromHeap(t) as Int32Array;
}

/** A bool (byte) tensor's elements as a heap view. */
export function u8(be: WasmBackendLike, t: tf.TensorInfo): Uint8Array {
  return be.typedArrayFromHeap(t) as Uint8Array;
}

/** The whole heap as floats, for `copyWithin` (a memmove) between tensors. */
export function heapF32(be: WasmBackendLike): Float32Array {
  return new Float32Array(be.wasm.HEAPU8.buffer);
}

/** A float32 tensor's first element in {@linkcode heapF32}. */
export function heapIndex(be: WasmBackendLike, t: tf.TensorInfo): number {
  return be.dataIdMap.get(t.dataId).memoryOffset >>> 2;
}

/** The number of elements of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws a TypeError naming the first input that is not of `dtype` (undefined inputs are skipped). */
export function checkDtype(
  kernel: string,
  inputs: Record<string, tf.TensorInfo | undefined>,
  dtype: tf.DataType = "float32",
): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t && t.dtype !== dtype) {
      throw new TypeError(`${kernel}: input '${name}' must be ${dtype}: current dtype is ${t.dtype}`);
    }
  }
}

/** Throws a TypeError when `a` and `b` differ in size. */
export function checkSameSize(kernel: string, a: tf.TensorInfo, b: tf.TensorInfo, what: string): void {
  if (sizeOf(a.shape) !== sizeOf(b.shape)) {
    throw new TypeError(`${kernel}: ${what} must have the same size: current shapes [${a.shape}] and [${b.shape}]`);
  }
}

/** `[rows, d]` of `x` viewed as rows of its last axis (which must be non-empty). */
export function rowsOf(kernel: string, x: tf.TensorInfo): [number, number] {
  const d = x.shape[x.shape.length - 1] ?? 1;
  if (x.shape.length < 1 || d === 0) throw new TypeError(`${kernel}: expected a non-empty last axis: [${x.shape}]`);
  return [sizeOf(x.shape) / d, d];
}

/**
 * A SIMD loop module: `build` makes its functions (assembled and compiled once, on first use), and the returned
 * function gives their exports instantiated on `be`'s memory (one instance per backend), or null when
 * `backendOptions().simd` is off or this engine cannot compile the module (no WebAssembly SIMD): the kernel then runs
 * its JS loops.
 *
 * @example Usage
 * ```ts ignore
 * const loops = simdLoops<{ gelu(x: number, y: number, n4: number): void }>(() => [geluFn()]);
 * const sk = loops(wasmOf(args));
 * if (sk) sk.gelu(heapOffset(be, x), heapOffset(be, y), n >>> 2);
 * ```
 */
export function simdLoops<K>(build: () => Fn[]): (be: Pick<WasmBackendLike, "wasm">) => K | null {
  let compiled: WebAssembly.Module | null | undefined;
  const instances = new WeakMap<object, K | null>();
  return (be) => {
    if (!backendOptions().simd) return null;
    let k = instances.get(be);
    if (k === undefined) {
      const memory = be.wasm.asm?.memory;
      k = memory instanceof WebAssembly.Memory ? instantiate<K>(memory, () => (compiled ??= compile(build))) : null;
      instances.set(be, k);
    }
    return k;
  };
}

function compile(build: () => Fn[]): WebAssembly.Module | null {
  try {
    return new WebAssembly.Module(assemble(build()));
  } catch {
    return null;
  }
}

function instantiate<K>(memory: WebAssembly.Memory, module: () => WebAssembly.Module | null): K | null {
  const m = module();
  return m && new WebAssembly.Instance(m, { env: { memory } }).exports as unknown as K;
}
