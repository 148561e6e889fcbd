/**
 * Allocation failures on the wasm heap, reported instead of silently corrupting memory. tfjs-backend-wasm 4.22 takes
 * whatever the module's `_malloc` returns: 0 when the heap cannot grow (tfjs then writes the tensor at address 0,
 * over the module's static data), and a request of 4 GiB or more wraps to a small size in the wasm `i32` argument.
 * The heap tracker's `_malloc` (`heap_tracker.ts`) calls {@linkcode checkAllocation} first and throws an
 * {@linkcode AllocationError}; {@linkcode installAllocationContext} adds the tensor (shape, dtype) and the op (tfjs
 * kernel) being run to the error as it propagates.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The largest wasm32 heap emscripten grows to (`getHeapMax()` of tfjs-backend-wasm 4.22): 4 GiB - 64 KiB. */
export const WASM_HEAP_MAX = 4294901760;

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
const mibText = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * A backend allocation failed: `bytes` could not be allocated on the wasm heap (it could not grow, or the request is
 * past the 4 GiB a wasm32 heap can hold). The message names the size, the tensor and the op when known.
 *
 * @example Usage
 * ```ts
 * import { AllocationError } from "./alloc_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new AllocationError(6 * 2 ** 30, 64 * 2 ** 20);
 * e.tensor = { shape: [3, 2 ** 29], dtype: "float32" };
 * e.op = "Fill";
 * assert.ok(e instanceof RangeError);
 * assert.match(e.message, /^Cannot allocate 6\.00 GiB \(6442450944 bytes\) for a float32 tensor \[3,536870912\] in op Fill/);
 * ```
 */
export class AllocationError extends RangeError {
  /** The bytes requested. */
  readonly bytes: number;
  /** The wasm memory's size when the request failed. */
  readonly heapBytes: number;
  #op: string | undefined;
  #tensor: { shape: number[]; dtype: string } | undefined;

  /** Creates the error for a request of `bytes` with the wasm memory at `heapBytes`. */
  constructor(bytes: number, heapBytes: number) {
    super("");
    this.name = "AllocationError";
    this.bytes = bytes;
    this.heapBytes = heapBytes;
    this.message = this.#format();
  }

  /** The tfjs kernel that was running (e.g. "MatMul"), when known. */
  get op(): string | undefined {
    return this.#op;
  }
  set op(name: string | undefined) {
    this.#op = name;
    this.message = this.#format();
  }

  /** The tensor being allocated, when known. */
  get tensor(): { shape: number[]; dtype: string } | undefined {
    return this.#tensor;
  }
  set tensor(t: { shape: number[]; dtype: string } | undefined) {
    this.#tensor = t;
    this.message = this.#format();
  }

  #format(): string {
    const what = this.#tensor ? ` for a ${this.#tensor.dtype} tensor [${this.#tensor.shape.join(",")}]` : "";
    const op = this.#op ? ` in op ${this.#op}` : "";
    const why = this.bytes > WASM_HEAP_MAX
      ? `a wasm32 heap holds at most ${gib(WASM_HEAP_MAX)}`
      : `the wasm heap (${mibText(this.heapBytes)}) could not grow by that much`;
    return `Cannot allocate ${gib(this.bytes)} (${this.bytes} bytes)${what}${op}: ${why}; use smaller batches or ` +
      "shapes, or a memory-saving technique";
  }
}

/**
 * Checks one `_malloc` call: throws {@linkcode AllocationError} when `bytes` is past {@linkcode WASM_HEAP_MAX}
 * (before calling `malloc`, whose `i32` argument would wrap) or when `malloc` returned 0 for a non-empty request;
 * else returns the pointer.
 *
 * @example Usage
 * ```ts
 * import { checkAllocation } from "./alloc_error.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkAllocation(() => 64, 16, 1 << 20), 64);
 * assert.throws(() => checkAllocation(() => 0, 16, 1 << 20), { name: "AllocationError" });
 * ```
 */
export function checkAllocation(malloc: (bytes: number) => number, bytes: number, heapBytes: number): number {
  if (bytes > WASM_HEAP_MAX) throw new AllocationError(bytes, heapBytes);
  const ptr = malloc(bytes);
  if (!ptr && bytes > 0) throw new AllocationError(bytes, heapBytes);
  return ptr;
}

const KEY = Symbol.for("memtrain.allocContext");

interface MoveLike {
  move(dataId: unknown, values: unknown, shape: number[], dtype: string, refCount: number): void;
  [KEY]?: true;
}

/**
 * Names the tensor and the op in allocation errors: wraps the active wasm backend's `move` (every tensor allocation:
 * adds shape and dtype) and the engine's `runKernel` (adds the innermost kernel's name). Idempotent; a no-op off
 * wasm. `initBackend` calls it.
 *
 * @example Usage
 * ```ts ignore
 * installAllocationContext();
 * tf.zeros([2 ** 31]); // AllocationError: Cannot allocate 8.00 GiB ... for a float32 tensor [2147483648] in op Fill
 * ```
 */
export function installAllocationContext(): void {
  const engine = tf.engine() as unknown as {
    runKernel(name: string, inputs: unknown, attrs?: unknown): unknown;
    [KEY]?: true;
  };
  if (!engine[KEY]) {
    const runKernel = engine.runKernel;
    engine.runKernel = function (name: string, inputs: unknown, attrs?: unknown) {
      try {
        return runKernel.call(this, name, inputs, attrs);
      } catch (e) {
        if (e instanceof AllocationError && e.op === undefined) e.op = name;
        throw e;
      }
    };
    engine[KEY] = true;
  }
  if (tf.getBackend() !== "wasm") return;
  const backend = tf.backend() as unknown as MoveLike;
  if (backend[KEY]) return;
  const move = backend.move;
  backend.move = function (dataId, values, shape, dtype, refCount) {
    try {
      return move.call(this, dataId, values, shape, dtype, refCount);
    } catch (e) {
      if (e instanceof AllocationError && e.tensor === undefined) e.tensor = { shape: [...shape], dtype };
      throw e;
    }
  };
  backend[KEY] = true;
}
