/**
 * Backend selection: `initBackend()` picks and initializes the tfjs backend memtrain runs on, and resolves the
 * backend options (`options.ts`). This is the one place that reads memtrain's backend environment variables
 * ({@linkcode backendOptionsFromEnv}): explicit options override them.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { patchWasm } from "./wasm_patches.ts";
import { meter } from "../memory/meter.ts";
import { setPhysicalMeter } from "../memory/physical.ts";
import { installHeapTracker } from "./heap_tracker.ts";
import { captureWasmModule } from "./wasm_capture.ts";
import { describeFailures, findBlas } from "./blas.ts";
import { patchBlas, unpatchBlas, whenBlasPoolReady } from "./blas_patch.ts";
import {
  type BackendOptions,
  DEFAULT_BACKEND_OPTIONS,
  HEAP_MODES,
  type HeapMode,
  updateBackendOptions,
} from "./options.ts";
import { installAllocationContext } from "./alloc_error.ts";

/**
 * Backends memtrain can run on. `blas` is the wasm backend with matmuls computed by OpenBLAS (see
 * {@linkcode patchBlas}). `auto` prefers tfjs-node ("tensorflow") when importable, then blas when OpenBLAS loads,
 * else wasm.
 */
export type BackendName = "auto" | "wasm" | "blas" | "cpu" | "tensorflow";

/**
 * Options for {@linkcode initBackend}. Each one left out comes from its environment variable when set (see
 * {@linkcode backendOptionsFromEnv}), else its default; the result is what `backendOptions()` returns afterwards.
 */
export interface InitBackendOptions {
  /** Which backend to use. @default {"auto"} (or the `MEMTRAIN_BACKEND` environment variable) */
  backend?: BackendName;
  /** Print one line saying which backend was chosen and why. @default {false} */
  verbose?: boolean;
  /** Run the fused wasm kernels (wasm and blas). @default {true, false when MEMTRAIN_FUSED is "0"} */
  fused?: boolean;
  /**
   * Kernel groups to turn off alone (`"nn"`, `"mesa"`, `"optim"`, `"guard"`).
   * @default {[], ["mesa"] when MEMTRAIN_FUSED_MESA is "0"}
   */
  fusedOff?: readonly string[];
  /** Let the fused kernels use their WebAssembly SIMD loops. @default {true} */
  simd?: boolean;
  /**
   * BLAS threads for the blas backend.
   * @default {the `MEMTRAIN_BLAS_THREADS` environment variable, else navigator.hardwareConcurrency}
   */
  blasThreads?: number;
  /**
   * With more than one BLAS thread: split matmuls between memtrain's GEMM worker threads (true) or use OpenBLAS's own
   * threads (false).
   * @default {MEMTRAIN_BLAS_POOL "1"/"0" if set, else `blasDefer`}
   */
  blasPool?: boolean;
  /**
   * Defer weight-gradient matmuls to a GEMM worker (starts the pool; can be faster on two threads, and longer buffer
   * lifetimes raise the step peak a little).
   * @default {false unless MEMTRAIN_BLAS_DEFER is "1"}
   */
  blasDefer?: boolean;
  /** BLAS library name or path for the blas backend. @default {`MEMTRAIN_BLAS_PATH`, else the OpenBLAS search list} */
  blasPath?: string;
  /**
   * Where large buffers go on wasm and blas: the heap arena with a plan of the training step (`"plan"`), the arena
   * first-fit, or emmalloc (`"stock"`). Blocks already allocated stay with their allocator.
   * @default {"plan", or MEMTRAIN_HEAP}
   */
  heap?: HeapMode;
  /**
   * Split Mesa's quantize pass across the calling thread and one worker thread (wasm and blas; needs `--allow-ffi`).
   * @default {false unless MEMTRAIN_MESA_SPLIT is "1"}
   */
  mesaSplit?: boolean;
}

/** {@linkcode InitBackendOptions} as read from the environment, with the raw thread count kept for its error. */
export interface EnvBackendOptions extends Omit<InitBackendOptions, "verbose" | "blasThreads"> {
  /** `MEMTRAIN_BLAS_THREADS` as given (validated by `initBackend` when blas is chosen). */
  blasThreads?: string;
}

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

/** "0" false, "1" true, else undefined. */
function flag(v: string | undefined): boolean | undefined {
  return v === "0" ? false : v === "1" ? true : undefined;
}

/**
 * Memtrain's backend environment variables as options (only those set): `MEMTRAIN_BACKEND`, `MEMTRAIN_FUSED=0|1`,
 * `MEMTRAIN_FUSED_MESA=0` (`fusedOff: ["mesa"]`), `MEMTRAIN_BLAS_THREADS`, `MEMTRAIN_BLAS_POOL=0|1`,
 * `MEMTRAIN_BLAS_DEFER=0|1`, `MEMTRAIN_BLAS_PATH` and `MEMTRAIN_HEAP=plan|first-fit|stock`, `MEMTRAIN_MESA_SPLIT=0|1`. The only reader of these variables (`initBackend` calls it);
 * `get` defaults to `Deno.env.get` (nothing without `--allow-env`).
 *
 * @example Usage
 * ```ts
 * import { backendOptionsFromEnv } from "./init.ts";
 * const env = { MEMTRAIN_FUSED_MESA: "0", MEMTRAIN_BLAS_DEFER: "1" } as Record<string, string>;
 * backendOptionsFromEnv((name) => env[name]); // { fusedOff: ["mesa"], blasDefer: true }
 * ```
 */
export function backendOptionsFromEnv(get: (name: string) => string | undefined = envGet): EnvBackendOptions {
  const out: EnvBackendOptions = {};
  const backend = get("MEMTRAIN_BACKEND");
  if (backend) out.backend = backend as BackendName;
  const fused = flag(get("MEMTRAIN_FUSED"));
  if (fused !== undefined) out.fused = fused;
  if (get("MEMTRAIN_FUSED_MESA") === "0") out.fusedOff = ["mesa"];
  const threads = get("MEMTRAIN_BLAS_THREADS");
  if (threads) out.blasThreads = threads;
  const pool = flag(get("MEMTRAIN_BLAS_POOL"));
  if (pool !== undefined) out.blasPool = pool;
  const defer = flag(get("MEMTRAIN_BLAS_DEFER"));
  if (defer !== undefined) out.blasDefer = defer;
  const path = get("MEMTRAIN_BLAS_PATH");
  if (path) out.blasPath = path;
  const heap = get("MEMTRAIN_HEAP");
  if (heap) out.heap = heap as HeapMode;
  const split = flag(get("MEMTRAIN_MESA_SPLIT"));
  if (split !== undefined) out.mesaSplit = split;
  return out;
}

/**
 * Resolves the options object: each field from `options`, else the environment, else the default. The thread count
 * is validated later, when the blas backend is chosen.
 */
function resolveOptions(options: InitBackendOptions, env: EnvBackendOptions): BackendOptions {
  const d = DEFAULT_BACKEND_OPTIONS;
  const blasDefer = options.blasDefer ?? env.blasDefer ?? d.blasDefer;
  return {
    fused: options.fused ?? env.fused ?? d.fused,
    fusedOff: [...(options.fusedOff ?? env.fusedOff ?? d.fusedOff)],
    simd: options.simd ?? d.simd,
    blasThreads: options.blasThreads ?? (env.blasThreads !== undefined ? Number(env.blasThreads) : d.blasThreads),
    blasPool: options.blasPool ?? env.blasPool ?? blasDefer,
    blasDefer,
    blasPath: options.blasPath ?? env.blasPath ?? d.blasPath,
    heap: options.heap ?? env.heap ?? d.heap,
    mesaSplit: options.mesaSplit ?? env.mesaSplit ?? d.mesaSplit,
  };
}

/** What {@linkcode initBackend} chose. */
export interface BackendInfo {
  /** The memtrain backend name ("wasm", "blas", "cpu", "tensorflow"). */
  name: string;
  /** The active tfjs backend (`tf.getBackend()`): "wasm" for both wasm and blas. */
  tfBackend: string;
  /** Human-readable notes, e.g. why an optional backend was skipped. */
  notes: string[];
}

const VALID: readonly BackendName[] = ["auto", "wasm", "blas", "cpu", "tensorflow"];

function installed(pkg: string): boolean {
  try {
    return Deno.statSync(`node_modules/${pkg}/package.json`).isFile;
  } catch {
    return false;
  }
}

/**
 * Tries the optional tfjs-node backends. `auto` only tries packages already installed in `node_modules/` (so a
 * machine without them never downloads anything); an explicit "tensorflow" request tries the npm import.
 */
async function tryTfjsNode(explicit: boolean): Promise<string | undefined> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    if (!explicit && !installed(pkg)) continue;
    try {
      // Optional dependency: it cannot install on machines without network access to libtensorflow.
      await import(`npm:${pkg}@4.22.0`);
      if (await tf.setBackend("tensorflow")) return pkg;
    } catch {
      // not importable: fall through
    }
  }
  return undefined;
}

let current: BackendInfo | undefined;

/**
 * Initializes the tfjs backend, applies memtrain's fixes for it, and sets the backend options (`backendOptions()`)
 * from `options`, else the environment, else the defaults.
 *
 * @example Usage
 * ```ts
 * import { backendOptions, initBackend } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const info = await initBackend(); // blas when OpenBLAS loads (and --allow-ffi is granted), else wasm
 * assert.equal(info.tfBackend, "wasm");
 * await initBackend({ backend: "wasm", fusedOff: ["mesa"] }); // Mesa's op chains, the other kernels fused
 * assert.deepEqual(backendOptions().fusedOff, ["mesa"]);
 * ```
 * @throws {RangeError} for an unknown backend name, a bad BLAS thread count, or when the requested backend cannot
 * start (for "blas": no BLAS library loads; `auto` falls back to wasm with a note instead).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = backendOptionsFromEnv();
  const requested = options.backend ?? env.backend ?? "auto";
  if (!VALID.includes(requested)) {
    throw new RangeError(
      `Cannot initialize backend: 'backend' must be one of ${VALID.join(", ")}: current value is "${requested}"`,
    );
  }
  const resolved = resolveOptions(options, env);
  if (!HEAP_MODES.includes(resolved.heap)) {
    const shown = options.heap === undefined ? `"${resolved.heap}" (MEMTRAIN_HEAP)` : `"${resolved.heap}"`;
    throw new RangeError(
      `Cannot initialize backend: 'heap' must be one of ${HEAP_MODES.join(", ")}: current value is ${shown}`,
    );
  }
  tf.enableProdMode();
  const notes: string[] = [];
  let chosen: Exclude<BackendName, "auto">;
  if (requested === "tensorflow" || requested === "auto") {
    const pkg = await tryTfjsNode(requested === "tensorflow");
    if (pkg) {
      chosen = "tensorflow";
      notes.push(`using ${pkg}`);
    } else if (requested === "tensorflow") {
      throw new RangeError(
        'Cannot initialize backend "tensorflow": @tensorflow/tfjs-node is not importable (it needs libtensorflow)',
      );
    } else {
      notes.push("tfjs-node not importable");
      chosen = "blas";
    }
  } else {
    chosen = requested;
  }
  let blas: ReturnType<typeof findBlas> | undefined;
  if (chosen === "blas" && requested === "auto" && Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    notes.push("OpenBLAS skipped (no --allow-ffi permission); using wasm"); // auto never prompts
    chosen = "wasm";
  }
  if (chosen === "blas") {
    blas = findBlas(resolved.blasPath);
    if (!blas.lib) {
      const tried = describeFailures(blas.failures);
      if (requested === "blas") {
        throw new RangeError(
          `Cannot initialize backend "blas": no BLAS library with cblas_sgemm found (${tried}); ` +
            "install libopenblas0-pthread or set MEMTRAIN_BLAS_PATH",
        );
      }
      notes.push(`OpenBLAS not found (${tried}); using wasm`);
      chosen = "wasm";
    }
  }
  const threads = chosen === "blas" ? blasThreads(options.blasThreads, env.blasThreads) : 0;
  // in force from here on (the fused ops read them at every call)
  updateBackendOptions(chosen === "blas" ? { ...resolved, blasThreads: threads } : resolved);
  if (chosen === "wasm" || chosen === "blas") {
    await import("@tensorflow/tfjs-backend-wasm");
    // The first initialization instantiates the module: keep its binary and see its heap growth (heap_tracker.ts).
    if (!(await captureWasmModule(() => tf.setBackend("wasm")))) {
      throw new RangeError(`Cannot initialize backend "${chosen}": setBackend failed`);
    }
    patchWasm();
  } else if (chosen === "cpu") {
    if (!(await tf.setBackend("cpu"))) throw new RangeError('Cannot initialize backend "cpu": setBackend failed');
  }
  await tf.ready();
  meter(); // count unique buffers from here on
  // The physical figure beside the meter: the wasm heap's exact break on wasm/blas, else the process's RSS.
  const heap = chosen === "wasm" || chosen === "blas" ? installHeapTracker() : undefined;
  installAllocationContext(); // allocation errors name the tensor and the op (alloc_error.ts)
  setPhysicalMeter(heap);
  // Large buffers: the heap arena (plan or first-fit) or emmalloc; "stock" when the break cannot be read.
  updateBackendOptions({ heap: heap ? heap.setHeapMode(resolved.heap) as HeapMode : resolved.heap });
  if (chosen === "blas") {
    let info = patchBlas({ lib: blas!.lib, threads, pool: resolved.blasPool, defer: resolved.blasDefer });
    if (info.pool && !(await whenBlasPoolReady())) {
      info = patchBlas({ lib: blas!.lib, threads, pool: false });
      updateBackendOptions({ blasPool: false, blasDefer: false });
      notes.push("GEMM worker threads did not start; using OpenBLAS threads");
    }
    const via = info.file && info.file !== info.path ? `${info.file} (via ${info.path})` : info.path;
    const how = info.threads > 1
      ? (info.pool
        ? ` (memtrain GEMM workers${info.defer ? ", deferred weight gradients" : ""})`
        : " (OpenBLAS threads)")
      : "";
    notes.push(`BLAS ${via}${info.config ? `: ${info.config}` : ""}; ${info.threads} thread(s)${how}`);
  } else {
    unpatchBlas();
  }
  current = { name: chosen, tfBackend: tf.getBackend(), notes };
  if (options.verbose) {
    console.error(`memtrain: backend ${current.name}${notes.length ? ` (${notes.join("; ")})` : ""}`);
  }
  return current;
}

function blasThreads(option: number | undefined, env: string | undefined): number {
  const fromEnv = option === undefined ? env : undefined;
  const value = option ?? (fromEnv ? Number(fromEnv) : navigator.hardwareConcurrency ?? 1);
  if (!Number.isInteger(value) || value < 1) {
    const shown = fromEnv !== undefined ? `"${fromEnv}" (MEMTRAIN_BLAS_THREADS)` : String(value);
    throw new RangeError(
      `Cannot initialize backend "blas": 'blasThreads' must be a positive integer: current value is ${shown}`,
    );
  }
  return value;
}

/** The info of the last {@linkcode initBackend} call, or undefined before the first. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}
