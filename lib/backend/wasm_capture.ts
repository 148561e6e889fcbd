/**
 * Catches the tfjs wasm backend's module as emscripten instantiates it: its binary (where `heap_tracker.ts` finds the
 * heap break) and its heap-growth import `env.emscripten_resize_heap`, wrapped so every growth request is seen.
 * `initBackend` runs the backend's first initialization inside {@linkcode captureWasmModule}; the wrapper of
 * `WebAssembly.instantiate` is in place only during that call.
 * @module
 */

/** One heap-growth request of the module (its `sbrk` asks for the new break when it passes the memory's size). */
export interface ResizeRequest {
  /** The requested size: the new heap break. */
  requested: number;
  /** Whether the memory grew. */
  granted: boolean;
  /** `memory.buffer.byteLength` after the call (emscripten over-grows by up to 20%). */
  memoryBytes: number;
}

/** What was caught of the module. */
export interface CapturedWasm {
  /** The module's binary. */
  bytes: Uint8Array;
  /** Every growth request so far, in order. */
  resizes: ResizeRequest[];
  /** Grows the memory to hold `requested` bytes, as the module's `sbrk` does (recorded like the module's requests). */
  resize(requested: number): boolean;
  /** Called after each growth request (the heap tracker listens). */
  onResize?: (r: ResizeRequest) => void;
}

const KEY = Symbol.for("memtrain.capturedWasm");

/** The captured tfjs wasm module of this isolate, if {@linkcode captureWasmModule} saw it instantiated. */
export function capturedWasm(): CapturedWasm | undefined {
  return (globalThis as Record<symbol, CapturedWasm | undefined>)[KEY];
}

type Imports = Record<string, Record<string, unknown>>;

/**
 * Runs `fn` (which initializes the wasm backend) with `WebAssembly.instantiate` wrapped: the first module instantiated
 * with an `env.emscripten_resize_heap` import has its binary kept and that import wrapped. Restores
 * `WebAssembly.instantiate` afterwards. Does nothing new once a module was captured.
 *
 * @example Usage
 * ```ts ignore
 * await captureWasmModule(() => tf.setBackend("wasm"));
 * capturedWasm()?.bytes.length; // 424594 (tfjs-backend-wasm-simd.wasm 4.22.0)
 * ```
 */
export async function captureWasmModule<T>(fn: () => Promise<T>): Promise<T> {
  if (capturedWasm()) return await fn();
  const wasmApi = WebAssembly as unknown as { instantiate: (src: unknown, imports?: Imports) => Promise<unknown> };
  const original = wasmApi.instantiate;
  wasmApi.instantiate = function (src: unknown, imports?: Imports) {
    const env = imports?.env;
    const resize = env?.emscripten_resize_heap;
    const bytes = src instanceof ArrayBuffer
      ? new Uint8Array(src)
      : ArrayBuffer.isView(src)
      ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
      : undefined;
    if (env && typeof resize === "function" && bytes && !capturedWasm()) {
      let exportsOf: Record<string, unknown> = {};
      const memoryOf = (): number => {
        const mem = exportsOf.memory;
        return mem instanceof WebAssembly.Memory ? mem.buffer.byteLength : 0;
      };
      const wrapped = (requested: number): unknown => {
        const granted = resize(requested);
        const r = { requested: requested >>> 0, granted: !!granted, memoryBytes: memoryOf() };
        captured.resizes.push(r);
        captured.onResize?.(r);
        return granted;
      };
      const captured: CapturedWasm = { bytes: bytes.slice(), resizes: [], resize: (n) => !!wrapped(n) };
      env.emscripten_resize_heap = wrapped;
      (globalThis as Record<symbol, CapturedWasm>)[KEY] = captured;
      return original.call(this, src, imports).then((out) => {
        const o = out as { instance?: WebAssembly.Instance; exports?: unknown };
        exportsOf = (o.instance?.exports ?? o.exports ?? {}) as Record<string, unknown>;
        return out;
      });
    }
    return original.call(this, src, imports);
  };
  try {
    return await fn();
  } finally {
    wasmApi.instantiate = original;
  }
}
