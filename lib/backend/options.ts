/**
 * The backend's switches as one options object: which fused kernels run, whether they use their SIMD loops, and how
 * the blas backend runs its matmuls. {@linkcode initBackend} (`init.ts`) fills it, reading the `MEMTRAIN_FUSED`,
 * `MEMTRAIN_FUSED_MESA` and `MEMTRAIN_BLAS_*` environment variables (the CLI-level way to set them) and letting its
 * own options override them; this module reads no environment. Everything else queries {@linkcode backendOptions}.
 *
 * {@linkcode setFusedKernels} and {@linkcode setFusedSimd} change the kernel switches between `initBackend` calls,
 * for A/B tests and benchmarks (the next `initBackend` resolves the options again).
 * @module
 */

/** The resolved backend switches (see {@linkcode backendOptions}). */
export interface BackendOptions {
  /**
   * Run memtrain's fused wasm kernels where they apply (wasm and blas backends, no gradient tape recording); false
   * runs the stock tfjs ops everywhere. `MEMTRAIN_FUSED=0` sets false. @default {true}
   */
  readonly fused: boolean;
  /**
   * Kernel groups turned off alone while {@linkcode BackendOptions.fused} stays on: `"nn"` (the layers'), `"causal"`
   * (causal attention's blocked products on blas), `"mesa"` (Mesa's quantizer), `"optim"` (the Adam update),
   * `"guard"` (the Trainer's non-finite check). `MEMTRAIN_FUSED_MESA=0` adds `"mesa"`. @default {[]}
   */
  readonly fusedOff: readonly string[];
  /** Let the fused kernels use their WebAssembly SIMD loops where shapes allow (else their JS loops). @default {true} */
  readonly simd: boolean;
  /**
   * BLAS threads of the blas backend. `MEMTRAIN_BLAS_THREADS` sets it.
   * @default {navigator.hardwareConcurrency}
   */
  readonly blasThreads: number | undefined;
  /**
   * With more than one BLAS thread: split matmuls between memtrain's GEMM worker threads (true) or use OpenBLAS's own
   * threads (false). `MEMTRAIN_BLAS_POOL=1|0` sets it. @default {blasDefer}
   */
  readonly blasPool: boolean | undefined;
  /** Defer weight-gradient matmuls to a GEMM worker. `MEMTRAIN_BLAS_DEFER=1` sets it. @default {false} */
  readonly blasDefer: boolean;
  /** BLAS library name or path. `MEMTRAIN_BLAS_PATH` sets it. @default {the OpenBLAS search list} */
  readonly blasPath: string | undefined;
  /**
   * Where large tfjs buffers go on wasm and blas (`heap_arena.ts`): `"plan"` (the heap arena, placing each training
   * step's blocks by a plan of the first step), `"first-fit"` (the arena, lowest hole that fits) or `"stock"`
   * (emmalloc, the module's allocator). `MEMTRAIN_HEAP` sets it. @default {"plan"}
   */
  readonly heap: HeapMode;
  /**
   * Split Mesa's quantize pass in two halves across the calling thread and one worker thread (`lib/mesa/split.ts`;
   * bit-identical codes, needs `--allow-ffi`). `MEMTRAIN_MESA_SPLIT=1` sets it. @default {false}
   */
  readonly mesaSplit: boolean;
}

/** The values of {@linkcode BackendOptions.heap}. */
export type HeapMode = "plan" | "first-fit" | "stock";

/** Every {@linkcode HeapMode}. */
export const HEAP_MODES: readonly HeapMode[] = Object.freeze(["plan", "first-fit", "stock"]);

/** The options before any `initBackend` call (and the defaults it starts from). */
export const DEFAULT_BACKEND_OPTIONS: BackendOptions = Object.freeze({
  fused: true,
  fusedOff: Object.freeze([]) as readonly string[],
  simd: true,
  blasThreads: undefined,
  blasPool: undefined,
  blasDefer: false,
  blasPath: undefined,
  heap: "plan",
  mesaSplit: false,
});

const KEY = Symbol.for("memtrain.backendOptions");
const slot = globalThis as Record<symbol, BackendOptions | undefined>;

/**
 * The backend options in force: what the last `initBackend` resolved (its options, else the environment, else the
 * defaults), changed since by {@linkcode setFusedKernels} / {@linkcode setFusedSimd}.
 *
 * @example Usage
 * ```ts
 * import { backendOptions } from "./options.ts";
 * const { fused, simd, fusedOff } = backendOptions();
 * console.log(fused, simd, fusedOff); // true true [] unless initBackend or MEMTRAIN_FUSED* said otherwise
 * ```
 */
export function backendOptions(): BackendOptions {
  return slot[KEY] ?? DEFAULT_BACKEND_OPTIONS;
}

/**
 * Replaces fields of the options object; returns the previous object. Called by `initBackend` and the setters below.
 *
 * @example Usage
 * ```ts
 * import { backendOptions, updateBackendOptions } from "./options.ts";
 * const previous = updateBackendOptions({ simd: false });
 * console.log(backendOptions().simd); // false
 * updateBackendOptions(previous); // restore
 * ```
 */
export function updateBackendOptions(patch: Partial<BackendOptions>): BackendOptions {
  const previous = backendOptions();
  const next = { ...previous, ...patch };
  slot[KEY] = Object.freeze({ ...next, fusedOff: Object.freeze([...next.fusedOff]) });
  return previous;
}

/**
 * Turns the fused kernels on or off (all of them, or with `group` only that kernel group, e.g. `"mesa"`) until the
 * next `initBackend`; off, callers run the stock tfjs ops. Returns the previous setting (of `group`, when given). For
 * A/B tests and benchmarks; the CLI-level switches are `MEMTRAIN_FUSED=0` and `MEMTRAIN_FUSED_MESA=0`.
 *
 * @example Usage
 * ```ts
 * import { setFusedKernels } from "./options.ts";
 * const before = setFusedKernels(false, "mesa"); // Mesa's quantizer runs its op chains, the layers stay fused
 * try {
 *   // ... time a step ...
 * } finally {
 *   setFusedKernels(before, "mesa");
 * }
 * ```
 */
export function setFusedKernels(enabled: boolean, group?: string): boolean {
  const o = backendOptions();
  if (group === undefined) return updateBackendOptions({ fused: enabled }).fused;
  const off = o.fusedOff.filter((g) => g !== group);
  updateBackendOptions({ fusedOff: enabled ? off : [...off, group] });
  return !o.fusedOff.includes(group);
}

/**
 * Lets the fused kernels use their WebAssembly SIMD loops where shapes allow (on by default), or forces their plain
 * JS loops, until the next `initBackend`. Returns the previous setting. For tests that compare the two.
 *
 * @example Usage
 * ```ts
 * import { setFusedSimd } from "./options.ts";
 * const before = setFusedSimd(false);
 * try {
 *   // ... the fused kernels run their JS loops here ...
 * } finally {
 *   setFusedSimd(before);
 * }
 * ```
 */
export function setFusedSimd(enabled: boolean): boolean {
  return updateBackendOptions({ simd: enabled }).simd;
}

/**
 * Turns the split of Mesa's quantize pass across two threads ({@linkcode BackendOptions.mesaSplit}) on or off until
 * the next `initBackend`. Returns the previous setting. For A/B tests and benchmarks; the CLI-level switch is
 * `MEMTRAIN_MESA_SPLIT=1`.
 *
 * @example Usage
 * ```ts
 * import { setMesaSplit } from "./options.ts";
 * const before = setMesaSplit(true);
 * setMesaSplit(before);
 * ```
 */
export function setMesaSplit(enabled: boolean): boolean {
  return updateBackendOptions({ mesaSplit: enabled }).mesaSplit;
}

/** The setting of {@linkcode setFusedKernels} (`fused`, and `group` not in `fusedOff` when given). */
export function fusedKernelsEnabled(group?: string): boolean {
  const o = backendOptions();
  return o.fused && (group === undefined || !o.fusedOff.includes(group));
}
