/**
 * Mesa's quantize pass split in two halves of the tensor across the calling thread and one worker thread
 * (`split_worker.ts`), bit-identical to the one-thread kernel: the codes depend only on each element's value, its
 * group's α and β and its flat index (the stochastic-rounding noise `uniformAt(key, i)` is counter-based), so a range
 * of elements is quantized alone by the SIMD loop with its first flat index as `start`.
 *
 * Why a worker of its own and copies: tfjs's wasm heap is not shared memory, so another thread cannot run wasm on it;
 * the worker reads and writes it through raw pointers (as the GEMM workers do, `lib/backend/gemm_pool.ts`), copying
 * chunks of {@linkcode SPLIT_CHUNK} elements into its own small wasm memory (≈ 80 KB, fixed: no peak memory on the
 * heap), running the same loop there and copying the codes back. Only quantize is split (≈ 1.1 ns per element with
 * noise); min/max and dequantize (≈ 0.25 ns) are memory-bound and would not gain from a copy. Needs `--allow-ffi`.
 * Used by the quantize kernel when `backendOptions().mesaSplit` is on (`kernels.ts`).
 * @module
 */
import { Worker } from "node:worker_threads";
import { awaitValue, whenReady } from "../backend/gemm_protocol.ts";
import type { MesaSimdKernels } from "./simd.ts";

/** A run of elements the SIMD loop quantizes in one call: the `[pre, groups, rest]` layout starting at group `g0`. */
export interface Piece {
  /** Flat index of the first element. */
  e: number;
  pre: number;
  groups: number;
  rest: number;
  /** The first element's group. */
  g0: number;
}

/**
 * Cuts the elements `[e0, e1)` of a `[pre, G, rest]` tensor into runs that are each a `[pre', G', rest']` layout of
 * their own (a partial block, whole blocks of one row, whole rows), in order.
 *
 * @example Usage
 * ```ts
 * import { rangePieces } from "./split.ts";
 * rangePieces(2, 3, 4, 5, 24).length; // 3: 3 elements of block 1, blocks 2 of row 0, row 1
 * ```
 */
export function rangePieces(pre: number, groups: number, rest: number, e0: number, e1: number): Piece[] {
  const out: Piece[] = [];
  const row = groups * rest;
  let e = e0;
  while (e < e1 && rest > 0) {
    const k = Math.floor(e / rest), off = e - k * rest, g = k % groups;
    if (off > 0 || e1 - e < rest) {
      const len = Math.min(rest - off, e1 - e);
      out.push({ e, pre: 1, groups: 1, rest: len, g0: g });
      e += len;
    } else if (g > 0 || e1 - e < row) {
      const n = Math.min(groups - g, Math.floor((e1 - e) / rest));
      out.push({ e, pre: 1, groups: n, rest, g0: g });
      e += n * rest;
    } else {
      const rows = Math.min(pre - e / row, Math.floor((e1 - e) / row));
      out.push({ e, pre: rows, groups, rest, g0: 0 });
      e += rows * row;
    }
  }
  return out;
}

/** The quantize kernel's arguments for a range: heap pointers (bytes) and the layout. */
export interface QuantizeJob {
  x: number;
  c: number;
  alpha: number;
  beta: number;
  pre: number;
  groups: number;
  rest: number;
  key: number;
  nearest: number;
}

/**
 * Quantizes elements `[e0, e1)` of `job` with the SIMD loops `sk`, whose memory holds `x` and the codes at the
 * pointers given; `base` is the flat index of the element at `job.x` (0 for the whole tensor).
 */
export function quantizeRange(sk: MesaSimdKernels, job: QuantizeJob, e0: number, e1: number, base = 0): void {
  for (const p of rangePieces(job.pre, job.groups, job.rest, e0, e1)) {
    const at = p.e - base;
    sk.mesaQuantize(
      job.x + 4 * at,
      job.c + at,
      p.pre,
      p.groups,
      p.rest,
      job.alpha + 4 * p.g0,
      job.beta + 4 * p.g0,
      job.key,
      job.nearest,
      p.e,
    );
  }
}

/** Elements the worker copies into its own memory at a time. */
export const SPLIT_CHUNK = 16384;

/** Tensors smaller than this are quantized on the calling thread alone (a wake-up costs more than half of them). */
export const SPLIT_MIN_ELEMENTS = 65536;

/** Indices of the control block shared with the worker (Int32). */
export const SPLIT_CTRL = { wake: 0, done: 1, ready: 2, exit: 3, error: 4 } as const;

/** Float64 fields of a job: x, c, alpha, beta (absolute addresses), pre, groups, rest, key, nearest, e0, e1. */
export const SPLIT_FIELDS = 11;

/** The first message of the worker. */
export interface SplitWorkerInit {
  ctrl: SharedArrayBuffer;
  job: SharedArrayBuffer;
  spin: number;
}

/**
 * One worker thread that quantizes the second half of a tensor while the caller does the first.
 *
 * @example Usage
 * ```ts ignore
 * const splitter = MesaSplitter.spawn();
 * await splitter.whenReady();
 * splitter.quantize(sk, job, heapAddress, n); // job pointers are heap offsets
 * splitter.close();
 * ```
 */
export class MesaSplitter {
  readonly #worker: Worker;
  readonly #ctrl: Int32Array;
  readonly #job: Float64Array;
  readonly #spin: number;
  #posted = 0;
  #closed = false;

  private constructor(spin: number) {
    const ctrl = new SharedArrayBuffer(4 * 8), job = new SharedArrayBuffer(8 * SPLIT_FIELDS);
    this.#ctrl = new Int32Array(ctrl);
    this.#job = new Float64Array(job);
    this.#spin = spin;
    this.#worker = new Worker(new URL("./split_worker.ts", import.meta.url));
    this.#worker.unref(); // an idle worker must not keep the process alive
    this.#worker.postMessage({ ctrl, job, spin } satisfies SplitWorkerInit);
  }

  /** Starts the worker (`spin`: polls before a waiting thread sleeps on the futex). */
  static spawn(spin = 20000): MesaSplitter {
    return new MesaSplitter(spin);
  }

  /** True once the worker runs (before that, {@linkcode MesaSplitter.quantize} runs everything here). */
  get ready(): boolean {
    return !this.#closed && Atomics.load(this.#ctrl, SPLIT_CTRL.ready) === 1;
  }

  /** Resolves true when the worker is ready, false after `timeoutMs`. */
  whenReady(timeoutMs = 10000): Promise<boolean> {
    return whenReady(() => this.ready, () => this.#closed, timeoutMs);
  }

  /**
   * Quantizes the `n` elements of `job` (pointers are offsets in the memory of `sk`, whose first byte is at address
   * `heap`): elements `[0, ⌊n/2⌋)` here, the rest on the worker, or all here when the worker is not ready.
   * @throws {Error} when the worker failed.
   */
  quantize(sk: MesaSimdKernels, job: QuantizeJob, heap: number, n: number): void {
    if (!this.ready || n < 2) {
      quantizeRange(sk, job, 0, n);
      return;
    }
    const half = n >>> 1;
    this.#job.set([
      heap + job.x,
      heap + job.c,
      heap + job.alpha,
      heap + job.beta,
      job.pre,
      job.groups,
      job.rest,
      job.key,
      job.nearest,
      half,
      n,
    ]);
    this.#posted++;
    Atomics.store(this.#ctrl, SPLIT_CTRL.wake, this.#posted);
    Atomics.notify(this.#ctrl, SPLIT_CTRL.wake);
    quantizeRange(sk, job, 0, half);
    awaitValue(this.#ctrl, SPLIT_CTRL.done, (done) => done >= this.#posted, this.#spin, 50);
    if (Atomics.exchange(this.#ctrl, SPLIT_CTRL.error, 0) !== 0) {
      throw new Error("MesaSplitter: the worker failed to quantize its half");
    }
  }

  /** Jobs handed to the worker so far. */
  get jobs(): number {
    return this.#posted;
  }

  /** Stops the worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#ctrl, SPLIT_CTRL.exit, 1);
    Atomics.add(this.#ctrl, SPLIT_CTRL.wake, 1);
    Atomics.notify(this.#ctrl, SPLIT_CTRL.wake);
  }
}

let shared: MesaSplitter | undefined;

/**
 * The process's splitter, spawned on first use (not ready until its worker has started).
 *
 * @example Usage
 * ```ts ignore
 * await mesaSplitter().whenReady();
 * closeMesaSplitter(); // the next use spawns a new one
 * ```
 */
export function mesaSplitter(): MesaSplitter {
  return shared ??= MesaSplitter.spawn();
}

/** Stops the process's splitter, if any; the next {@linkcode mesaSplitter} call spawns a new one. */
export function closeMesaSplitter(): void {
  shared?.close();
  shared = undefined;
}
