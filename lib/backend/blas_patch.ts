/**
 * The "blas" backend: the wasm backend with `BatchMatMul` and `_FusedMatMul` computed by `cblas_sgemm`, zero-copy on
 * the wasm heap. `tf.matMul`, `tf.dot` and the matMul gradients run `BatchMatMul`; `tf.fused.matMul` (tf.layers
 * dense) runs `_FusedMatMul`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BlasLibrary, CBLAS, loadBlas } from "./blas.ts";
import { DeferredGemms, type FencedBackend } from "./deferred.ts";
import { bufferAddress, type GemmCall, GemmPool } from "./gemm_pool.ts";
import { type GemmSpec, splitGemm } from "./gemm_split.ts";
import { patchWasm } from "./wasm_patches.ts";

interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** A float32 tensor's elements as a view of the heap (take it after any allocation: growth detaches views). */
function f32(be: WasmBackendLike, t: tf.TensorInfo): Float32Array {
  return be.typedArrayFromHeap(t) as Float32Array;
}

interface PatchState {
  lib: BlasLibrary;
  threads: number;
  previous: Map<string, tf.KernelConfig>;
  /** Worker threads that split each matmul (OpenBLAS then runs single-threaded); undefined: OpenBLAS threads. */
  pool: GemmPool | undefined;
  /** Deferred matmuls on the pool's first worker (with the pool only). */
  deferred: DeferredGemms | undefined;
}

const STATE = Symbol.for("memtrain.blasPatch");
const KERNELS = ["BatchMatMul", "_FusedMatMul"] as const;

/**
 * Kernel name of the deferred matmul (`{a, b}`, attrs `{transposeA, transposeB}`, as BatchMatMul): with the GEMM pool
 * it returns at once and a worker fills the output (see `deferred.ts`); otherwise it is BatchMatMul.
 */
export const DEFERRED_MATMUL = "MemtrainMatMulDeferred";

function state(): PatchState | undefined {
  return (globalThis as Record<symbol, PatchState | undefined>)[STATE];
}

/** Options for {@linkcode patchBlas}. */
export interface PatchBlasOptions {
  /** The library. @default {the library already patched in, else loadBlas()} */
  lib?: BlasLibrary;
  /**
   * BLAS thread count. OpenBLAS keeps it per process, so it is shared with other workers and test isolates.
   * @default {navigator.hardwareConcurrency}
   */
  threads?: number;
  /**
   * With more than one thread: split each matmul between `threads − 1` worker threads and this one, each part on a
   * single-threaded BLAS (see `gemm_pool.ts`), instead of using OpenBLAS's own threads. On our 2-core machines the
   * two measured within run-to-run noise of each other for the GPT bench step (README, "Speed"), so the simpler
   * OpenBLAS threads are the default; the pool is what makes `defer` possible.
   * @default {`defer`} (`initBackend` passes `MEMTRAIN_BLAS_POOL` when set)
   */
  pool?: boolean;
  /**
   * With the pool: run weight- and bias-gradient matmuls on a worker while this thread goes on (see `deferred.ts`).
   * Faster on two threads (GPT bench step −10-15%), but a Linear's input and output gradient then live until the
   * worker is done with them, which raised GPT-small's step peak by 9 MiB (4.7%); off by default, since memtrain is
   * about memory.
   * Needs the pool (it is started for it unless `pool: false`).
   * @default {false} (`initBackend` passes `MEMTRAIN_BLAS_DEFER=1` when set)
   */
  defer?: boolean;
}

/** What {@linkcode patchBlas} installed. */
export interface BlasPatchInfo {
  /** Library name or path. */
  path: string;
  /** The mapped library file, when it can be determined. */
  file: string | undefined;
  /** `openblas_get_config()`, when available. */
  config: string | undefined;
  /** The thread count set. */
  threads: number;
  /** True when the threads beyond the first are memtrain's GEMM worker pool, false when they are OpenBLAS's. */
  pool: boolean;
  /** True when weight-gradient matmuls are deferred to a worker. */
  defer: boolean;
}

/** True while the BLAS kernels are registered for the wasm backend. */
export function isBlasPatched(): boolean {
  return state() !== undefined;
}

/** The active BLAS patch, or undefined. */
export function blasPatchInfo(): BlasPatchInfo | undefined {
  const s = state();
  return s &&
    {
      path: s.lib.path,
      file: s.lib.file,
      config: s.lib.config,
      threads: s.threads,
      pool: !!s.pool,
      defer: !!s.deferred,
    };
}

/**
 * Registers the BLAS `BatchMatMul` and `_FusedMatMul` kernels for the wasm backend (after applying
 * {@linkcode patchWasm}). Calling it again updates the library and thread count. Call after the wasm backend is active.
 *
 * @example Usage
 * ```ts ignore
 * await tf.setBackend("wasm");
 * patchBlas({ threads: 2 });
 * tf.matMul(a, b); // OpenBLAS
 * unpatchBlas(); // back to the wasm kernels
 * ```
 * @throws {RangeError} when `threads` is not a positive integer or no BLAS library loads.
 * @throws {Error} when the wasm backend has not been imported.
 */
export function patchBlas(options: PatchBlasOptions = {}): BlasPatchInfo {
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Cannot patch BLAS: 'threads' must be a positive integer: current value is ${threads}`);
  }
  const lib = options.lib ?? state()?.lib ?? loadBlas();
  const existing = state();
  existing?.deferred?.dispose();
  existing?.pool?.close();
  const defer = options.defer ?? false;
  const pool = threads > 1 && (options.pool ?? defer) ? spawnPool(lib.path, threads - 1) : undefined;
  const deferred = pool && defer ? new DeferredGemms(pool, 0, tf.backend() as unknown as FencedBackend) : undefined;
  lib.setThreads(pool ? 1 : threads);
  if (existing) {
    existing.lib = lib;
    existing.threads = threads;
    existing.pool = pool;
    existing.deferred = deferred;
  } else {
    for (const name of KERNELS) {
      if (!tf.getKernel(name, "wasm")) {
        throw new Error(`Cannot patch BLAS: wasm kernel ${name} is not registered (import the wasm backend first)`);
      }
    }
    patchWasm(); // first, so unpatchBlas restores its transposing BatchMatMul
    const previous = new Map<string, tf.KernelConfig>(KERNELS.map((name) => [name, tf.getKernel(name, "wasm")!]));
    const s: PatchState = { lib, threads, previous, pool, deferred };
    (globalThis as Record<symbol, PatchState | undefined>)[STATE] = s;
    register({ ...previous.get("BatchMatMul")!, kernelFunc: (args) => batchMatMul(args, s) });
    register({ ...previous.get("_FusedMatMul")!, kernelFunc: (args) => fusedMatMul(args, s) });
    register({ kernelName: DEFERRED_MATMUL, backendName: "wasm", kernelFunc: (args) => deferredMatMul(args, s) });
  }
  return blasPatchInfo()!;
}

/** The GEMM pool, or undefined when worker threads cannot start here (e.g. no permission): OpenBLAS threads then. */
function spawnPool(path: string, workers: number): GemmPool | undefined {
  try {
    return GemmPool.spawn(path, workers);
  } catch {
    return undefined;
  }
}

/**
 * Resolves true once the GEMM worker pool is running (false when there is none, or after `timeoutMs`). Until then,
 * matmuls run on the calling thread only.
 */
export async function whenBlasPoolReady(timeoutMs = 10000): Promise<boolean> {
  const pool = state()?.pool;
  return pool ? await pool.whenReady(timeoutMs) : false;
}

/** Restores the kernels {@linkcode patchBlas} replaced and stops the worker pool. Returns false when nothing was patched. */
export function unpatchBlas(): boolean {
  const s = state();
  if (!s) return false;
  s.deferred?.dispose();
  s.pool?.close();
  tf.unregisterKernel(DEFERRED_MATMUL, "wasm");
  for (const config of s.previous.values()) register(config);
  (globalThis as Record<symbol, PatchState | undefined>)[STATE] = undefined;
  return true;
}

function register(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, "wasm") !== undefined) tf.unregisterKernel(config.kernelName, "wasm");
  tf.registerKernel(config);
}

interface Plan {
  m: number;
  n: number;
  k: number;
  outShape: number[];
  /** Per output batch: the a and b batch indices. */
  aIndex: (i: number) => number;
  bIndex: (i: number) => number;
  batches: number;
}

/** Maps a flat index of `outShape` to the flat index of `shape` broadcast into it (right-aligned; size-1 dims repeat). */
function broadcastIndexer(shape: number[], outShape: number[]): (i: number) => number {
  const size = shape.reduce((x, y) => x * y, 1);
  if (size === 1) return () => 0;
  if (size === outShape.reduce((x, y) => x * y, 1)) return (i) => i; // same shape up to leading 1s
  return (i) => {
    let idx = 0, stride = 1;
    for (let d = outShape.length - 1, s = shape.length - 1; s >= 0; d--, s--) {
      const coord = i % outShape[d];
      i = (i - coord) / outShape[d];
      if (shape[s] !== 1) idx += coord * stride;
      stride *= shape[s];
    }
    return idx;
  };
}

function plan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): Plan {
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and ` +
        `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(aBatch, bBatch);
  return {
    m,
    n,
    k,
    outShape: [...outBatch, m, n],
    aIndex: broadcastIndexer(aBatch, outBatch),
    bIndex: broadcastIndexer(bBatch, outBatch),
    batches: outBatch.reduce((x, y) => x * y, 1),
  };
}

/**
 * GEMMs below this many multiply-adds run on one BLAS thread even when more are configured: waking and joining a
 * second thread costs more than it saves on them (the attention products, 32 × [128×64]·[64×128] per call, ran at
 * ~36 GFLOP/s on two threads vs ~47 on one), and it keeps the batched loops of tiny models from paying it per matrix.
 */
export const SMALL_GEMM_MACS = 1 << 21;

/** Matmuls (all batches together) below this many multiply-adds run on the calling thread, not split by the pool. */
export const POOL_MIN_MACS = 1 << 20;

/** Deferred matmuls below this many multiply-adds run at once (posting one costs a few microseconds). */
export const DEFER_MIN_MACS = 1 << 16;

/** The planned GEMMs as byte addresses on the wasm heap (take it after the output is allocated). */
function gemmSpec(
  be: WasmBackendLike,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  out: tf.TensorInfo,
  p: Plan,
  transA: boolean,
  transB: boolean,
  beta: number,
): GemmSpec {
  const base = bufferAddress(be.wasm.HEAPU8.buffer as ArrayBuffer);
  const at = (t: tf.TensorInfo) => base + be.dataIdMap.get(t.dataId).memoryOffset;
  const aAt = at(a), bAt = at(b), oAt = at(out);
  const { m, n, k } = p;
  return {
    batches: p.batches,
    m,
    n,
    k,
    transA,
    transB,
    a: (i) => aAt + 4 * p.aIndex(i) * m * k,
    b: (i) => bAt + 4 * p.bIndex(i) * k * n,
    c: (i) => oAt + 4 * i * m * n,
    beta,
  };
}

/** Runs the planned GEMMs into `out` (beta = 0, or 1 when `out` is pre-filled). */
function gemm(
  be: WasmBackendLike,
  s: PatchState,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  out: tf.TensorInfo,
  p: Plan,
  transposeA: boolean,
  transposeB: boolean,
  beta: number,
): void {
  const { m, n, k } = p;
  if (k === 0) {
    if (beta === 0) f32(be, out).fill(0);
    return;
  }
  const pool = s.pool;
  if (pool && p.batches * m * n * k >= POOL_MIN_MACS && pool.ready) {
    pool.run(splitGemm(gemmSpec(be, a, b, out, p, transposeA, transposeB, beta), pool.threads));
    return;
  }
  // Views are made after makeOutput (which may grow the heap and detach older views).
  const av = f32(be, a), bv = f32(be, b), ov = f32(be, out);
  const lda = transposeA ? m : k, ldb = transposeB ? k : n;
  const tA = transposeA ? CBLAS.Trans : CBLAS.NoTrans, tB = transposeB ? CBLAS.Trans : CBLAS.NoTrans;
  const sgemm = s.lib.rawSgemm;
  const single = !pool && s.threads > 1 && s.lib.canSetThreads && m * n * k < SMALL_GEMM_MACS;
  if (single) s.lib.setThreads(1);
  try {
    for (let i = 0; i < p.batches; i++) {
      const ao = p.aIndex(i) * m * k, bo = p.bIndex(i) * k * n, oo = i * m * n;
      const aSub = p.batches === 1 ? av : av.subarray(ao, ao + m * k);
      const bSub = p.batches === 1 ? bv : bv.subarray(bo, bo + k * n);
      const oSub = p.batches === 1 ? ov : ov.subarray(oo, oo + m * n);
      sgemm(CBLAS.RowMajor, tA, tB, m, n, k, 1, aSub, lda, bSub, ldb, beta, oSub, n);
    }
  } finally {
    if (single) s.lib.setThreads(s.threads);
  }
}

type MatMulAttrs = { transposeA: boolean; transposeB: boolean };

function batchMatMul(args: Parameters<tf.KernelFunc>[0], s: PatchState): tf.TensorInfo | tf.TensorInfo[] {
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return s.previous.get("BatchMatMul")!.kernelFunc(args);
  }
  const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
  const be = args.backend as unknown as WasmBackendLike;
  const p = plan(a, b, transposeA, transposeB);
  const out = be.makeOutput(p.outShape, "float32");
  if (p.batches * p.m * p.n > 0) gemm(be, s, a, b, out, p, transposeA, transposeB, 0);
  return out;
}

/** True when {@linkcode DEFERRED_MATMUL} really defers (blas backend with the GEMM pool running). */
export function deferredMatMulActive(): boolean {
  const s = state();
  return !!s?.deferred && s.pool!.ready && tf.getBackend() === "wasm";
}

/** Waits for every deferred matmul (e.g. before timing or measuring memory). */
export function drainDeferred(): void {
  state()?.deferred?.drain();
}

function deferredMatMul(args: Parameters<tf.KernelFunc>[0], s: PatchState): tf.TensorInfo | tf.TensorInfo[] {
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
  const d = s.deferred, pool = s.pool;
  const ok = d && pool?.ready && a.dtype === "float32" && b.dtype === "float32" && a.shape.length >= 2 &&
    b.shape.length >= 2;
  const p = ok ? plan(a, b, transposeA, transposeB) : undefined;
  if (!p || p.batches * p.m * p.n * p.k < DEFER_MIN_MACS) return batchMatMul(args, s);
  const be = args.backend as unknown as WasmBackendLike;
  const out = be.makeOutput(p.outShape, "float32");
  const spec = gemmSpec(be, a, b, out, p, transposeA, transposeB, 0);
  d!.submit(splitGemm(spec, 1), [a.dataId as object, b.dataId as object], [out.dataId as object]);
  return out;
}

let ones = new Float32Array(0);

/**
 * The column sums of `x [N, C]` (`args.inputs.x`) as one `cblas_sgemv`, `xᵀ·1` -> `[C]`, while the BLAS patch is
 * active and the library has sgemv; undefined otherwise (or for an empty or non-2-D float32 input), so the caller's
 * kernel (the layers' `MemtrainColumnSum`, `lib/nn/kernels/matmul.ts`) uses its own path.
 *
 * @example Usage
 * ```ts ignore
 * const out = blasColumnSum(args) ?? columnSumByMatMul(args);
 * ```
 */
export function blasColumnSum(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo | undefined {
  const s = state();
  const x = args.inputs.x as tf.TensorInfo;
  const sgemv = s?.lib.rawSgemv;
  if (!sgemv || x.dtype !== "float32" || x.shape.length !== 2 || x.shape[0] === 0 || x.shape[1] === 0) {
    return undefined;
  }
  const [n, c] = x.shape;
  const be = args.backend as unknown as WasmBackendLike;
  const out = be.makeOutput([c], "float32");
  if (ones.length < n) ones = new Float32Array(n).fill(1);
  const xv = f32(be, x), yv = f32(be, out); // after makeOutput, which may grow the heap
  sgemv(CBLAS.RowMajor, CBLAS.Trans, n, c, 1, xv, c, ones, 1, 0, yv, 1);
  return out;
}

type FusedAttrs = MatMulAttrs & { activation: string; leakyreluAlpha?: number };

const ACTIVATIONS: Record<string, ((x: number, alpha: number) => number) | null> = {
  linear: null,
  relu: (x) => (x > 0 ? x : 0),
  relu6: (x) => (x > 0 ? (x < 6 ? x : 6) : 0),
  leakyrelu: (x, alpha) => (x < 0 ? alpha * x : x),
  elu: (x) => (x < 0 ? Math.exp(x) - 1 : x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
};

function fusedMatMul(args: Parameters<tf.KernelFunc>[0], s: PatchState): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as FusedAttrs;
  const p = a && b && a.shape.length >= 2 && b.shape.length >= 2
    ? plan(a, b, attrs.transposeA, attrs.transposeB)
    : null;
  const biasOk = bias == null ||
    (bias.dtype === "float32" && bias.shape.length === 1 && [1, p?.n].includes(bias.shape[0]));
  if (
    !p || a!.dtype !== "float32" || b!.dtype !== "float32" || !biasOk || preluActivationWeights != null ||
    !(attrs.activation in ACTIVATIONS)
  ) {
    return s.previous.get("_FusedMatMul")!.kernelFunc(args); // stock kernel: other cases, or its error
  }
  const be = args.backend as unknown as WasmBackendLike;
  const out = be.makeOutput(p.outShape, "float32");
  const total = p.batches * p.m * p.n;
  if (total === 0) return out;
  if (bias != null) {
    const bv = f32(be, bias), ov = f32(be, out);
    if (bv.length === 1) ov.fill(bv[0]);
    else for (let r = 0; r < total; r += p.n) ov.set(bv, r);
  }
  gemm(be, s, a!, b!, out, p, attrs.transposeA, attrs.transposeB, bias != null ? 1 : 0);
  const act = ACTIVATIONS[attrs.activation];
  if (act) {
    const ov = f32(be, out);
    const alpha = attrs.leakyreluAlpha ?? 0.2;
    for (let i = 0; i < total; i++) ov[i] = act(ov[i], alpha);
  }
  return out;
}

/** One `cblas_sgemm` call on the wasm heap for {@linkcode blasHeapGemms}: `a`, `b`, `c` are float32 indices. */
export type HeapGemm = GemmCall;

/**
 * Runs `cblas_sgemm` calls whose matrices are float32 indices into the wasm heap (any `lda`/`ldb`/`ldc`, so
 * sub-blocks and strided views need no copies), while the BLAS patch is active; returns false (running nothing)
 * otherwise. With the GEMM worker pool the calls are claimed by all its threads (when they add up to
 * {@linkcode POOL_MIN_MACS}); else they run here, on one BLAS thread when each is below {@linkcode SMALL_GEMM_MACS}.
 * The outputs must be disjoint.
 *
 * @example Usage
 * ```ts ignore
 * // C[0:32, 0:64] = A[0:32, 0:16]·B[0:16, 0:64] inside larger row-major buffers
 * blasHeapGemms(be, [{ m: 32, n: 64, k: 16, a, lda: 16, b, ldb: 64, c, ldc: 128 }]);
 * ```
 */
export function blasHeapGemms(be: { wasm: { HEAPU8: Uint8Array } }, calls: readonly HeapGemm[]): boolean {
  const s = state();
  if (!s) return false;
  let macs = 0, largest = 0;
  for (const c of calls) {
    const x = c.m * c.n * c.k;
    macs += x;
    if (x > largest) largest = x;
  }
  const pool = s.pool;
  if (pool && pool.ready && macs >= POOL_MIN_MACS) {
    const base = bufferAddress(be.wasm.HEAPU8.buffer as ArrayBuffer);
    const list: number[] = [];
    for (const c of calls) GemmPool.addCall(list, { ...c, a: base + 4 * c.a, b: base + 4 * c.b, c: base + 4 * c.c });
    pool.run(list);
    return true;
  }
  const heap = new Float32Array(be.wasm.HEAPU8.buffer);
  const sgemm = s.lib.rawSgemm;
  const single = !pool && s.threads > 1 && s.lib.canSetThreads && largest < SMALL_GEMM_MACS;
  if (single) s.lib.setThreads(1);
  try {
    for (const c of calls) {
      if (c.m === 0 || c.n === 0) continue;
      const tA = c.transA ? CBLAS.Trans : CBLAS.NoTrans, tB = c.transB ? CBLAS.Trans : CBLAS.NoTrans;
      sgemm(
        CBLAS.RowMajor,
        tA,
        tB,
        c.m,
        c.n,
        c.k,
        c.alpha ?? 1,
        heap.subarray(c.a),
        c.lda,
        heap.subarray(c.b),
        c.ldb,
        c.beta ?? 0,
        heap.subarray(c.c),
        c.ldc,
      );
    }
  } finally {
    if (single) s.lib.setThreads(s.threads);
  }
  return true;
}
