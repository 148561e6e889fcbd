/**
 * A pool of worker threads that run `cblas_sgemm` calls on raw pointers, so that one matmul kernel can be spread over
 * cores with each call on a single-threaded BLAS. tfjs kernels are synchronous, so the main thread posts calls in
 * shared memory, claims calls itself, and waits on a futex for the rest; no event-loop turn is needed.
 *
 * Two kinds of jobs (protocol in `gemm_protocol.ts`): a shared job, whose calls every thread claims until none are
 * left (a worker busy with a deferred job just claims fewer), and a deferred job that one worker runs while the main
 * thread goes on (see `deferred.ts`).
 *
 * Why not OpenBLAS's own threads: a batched matmul is many small GEMMs (attention: 32 × [128×64]·[64×128]) that
 * OpenBLAS runs one at a time, each split with its own join; claiming whole matrices runs each on one core with one
 * join per kernel, and lets a worker compute weight gradients while the main thread runs non-matmul kernels.
 * @module
 */
import { Worker } from "node:worker_threads";
import {
  awaitValue,
  CALL_FIELDS,
  claimShared,
  CLOSED,
  CTRL,
  CTRL_SLOTS,
  execCalls,
  MAX_CALLS,
  SGEMM_POINTERS,
  SHARED,
  SHARED_SLOTS,
  whenReady,
  type WorkerInit,
} from "./gemm_protocol.ts";

interface Slot {
  worker: Worker;
  ctrl: Int32Array;
  calls: Float64Array;
  /** Deferred calls posted so far. */
  posted: number;
}

/** Options for {@linkcode GemmPool.spawn}. */
export interface GemmPoolOptions {
  /** Polls before a waiting thread sleeps on the futex (trades idle CPU for wake-up latency). @default {20000} */
  spin?: number;
}

/** One `cblas_sgemm` call, row-major, with byte addresses (see {@linkcode GemmPool.addCall}). */
export interface GemmCall {
  transA?: boolean;
  transB?: boolean;
  m: number;
  n: number;
  k: number;
  alpha?: number;
  a: number;
  lda: number;
  b: number;
  ldb: number;
  beta?: number;
  c: number;
  ldc: number;
}

/**
 * `workers` extra threads for `cblas_sgemm` calls; the calling thread takes part in shared jobs.
 *
 * @example Usage
 * ```ts ignore
 * const pool = GemmPool.spawn("libopenblas.so.0", 1);
 * await pool.whenReady();
 * const calls: number[] = [];
 * GemmPool.addCall(calls, { m: 2, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2 }); // a, b, c: byte addresses
 * pool.run(calls); // shared: both threads claim calls
 * const ticket = pool.submit(0, calls); // deferred on worker 0
 * pool.wait(0, ticket);
 * pool.close();
 * ```
 */
export class GemmPool {
  readonly #slots: Slot[];
  readonly #lib: Deno.DynamicLibrary<typeof SGEMM_POINTERS>;
  readonly #spin: number;
  readonly #shared: Int32Array;
  readonly #sharedCalls: Float64Array;
  #closed = false;

  private constructor(path: string, workers: number, spin: number) {
    this.#lib = Deno.dlopen(path, SGEMM_POINTERS);
    this.#spin = spin;
    const shared = new SharedArrayBuffer(4 * SHARED_SLOTS);
    const sharedCalls = new SharedArrayBuffer(8 * CALL_FIELDS * MAX_CALLS);
    this.#shared = new Int32Array(shared);
    this.#sharedCalls = new Float64Array(sharedCalls);
    Atomics.store(this.#shared, SHARED.next, CLOSED);
    this.#slots = [];
    for (let i = 0; i < workers; i++) {
      const ctrl = new SharedArrayBuffer(4 * CTRL_SLOTS);
      const calls = new SharedArrayBuffer(8 * CALL_FIELDS * MAX_CALLS);
      const worker = new Worker(new URL("./gemm_worker.ts", import.meta.url));
      worker.unref(); // an idle pool must not keep the process alive
      worker.postMessage({ path, ctrl, calls, shared, sharedCalls, spin } satisfies WorkerInit);
      this.#slots.push({ worker, ctrl: new Int32Array(ctrl), calls: new Float64Array(calls), posted: 0 });
    }
  }

  /**
   * Starts `workers` threads that open the CBLAS library at `path` (the name the main thread opened it with).
   * @throws {RangeError} when `workers` is not a positive integer.
   */
  static spawn(path: string, workers: number, options: GemmPoolOptions = {}): GemmPool {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`Cannot spawn GemmPool: 'workers' must be a positive integer: current value is ${workers}`);
    }
    return new GemmPool(path, workers, options.spin ?? 20000);
  }

  /** Appends one call (row-major; addresses in bytes) to a call list. */
  static addCall(list: number[], c: GemmCall): void {
    list.push(101, c.transA ? 112 : 111, c.transB ? 112 : 111, c.m, c.n, c.k, c.alpha ?? 1, c.a, c.lda, c.b, c.ldb);
    list.push(c.beta ?? 0, c.c, c.ldc);
  }

  /** Number of threads including the caller's. */
  get threads(): number {
    return this.#slots.length + 1;
  }

  /** True once every worker has opened the library (before that, {@linkcode GemmPool.run} runs everything here). */
  get ready(): boolean {
    return !this.#closed && this.#slots.every((s) => Atomics.load(s.ctrl, CTRL.ready) === 1);
  }

  /** Resolves true when every worker is ready, false after `timeoutMs`. */
  whenReady(timeoutMs = 10000): Promise<boolean> {
    return whenReady(() => this.ready, () => this.#closed, timeoutMs);
  }

  /**
   * Runs the calls of `list` ({@linkcode CALL_FIELDS} numbers each) on every thread that is free to claim them, this
   * one included, and returns when all are done. Calls must write disjoint outputs. Runs everything here while the
   * pool is not ready, or for a single call.
   * @throws {Error} when a call threw in a worker.
   */
  run(list: readonly number[]): void {
    const count = list.length / CALL_FIELDS;
    if (count <= 1 || !this.ready || count > MAX_CALLS) {
      execCalls(this.#lib.symbols.cblas_sgemm, list, count);
      return;
    }
    const shared = this.#shared;
    // The table is written while `next` is CLOSED, so no thread claims a call of the previous job against it.
    this.#sharedCalls.set(list);
    Atomics.store(shared, SHARED.count, count);
    Atomics.store(shared, SHARED.finished, 0);
    Atomics.store(shared, SHARED.error, 0);
    Atomics.store(shared, SHARED.next, 0);
    for (const s of this.#slots) this.#wake(s);
    while (claimShared(this.#lib.symbols.cblas_sgemm, shared, this.#sharedCalls));
    awaitValue(shared, SHARED.finished, (finished) => finished >= count, this.#spin, 50);
    Atomics.store(shared, SHARED.next, CLOSED);
    if (Atomics.load(shared, SHARED.error) !== 0) {
      throw new Error("GemmPool: a cblas_sgemm call failed in a worker thread");
    }
  }

  /**
   * Appends the calls of `list` to worker `w`'s deferred calls (0-based `w`) and returns at once with a ticket for
   * {@linkcode GemmPool.wait}; the caller must keep every buffer the calls touch alive, and not read their outputs,
   * until then. Waits only when the worker's ring is full.
   * @throws {RangeError} when the pool is not ready, `w` is out of range or the list is longer than the ring.
   */
  submit(w: number, list: readonly number[]): number {
    const slot = this.#slots[w];
    const count = list.length / CALL_FIELDS;
    if (!this.ready || !slot || count > MAX_CALLS) {
      throw new RangeError(`Cannot submit to GemmPool worker ${w}: pool not ready, no such worker or too many calls`);
    }
    this.wait(w, slot.posted + count - MAX_CALLS); // room in the ring
    for (let c = 0; c < count; c++) {
      const row = ((slot.posted + c) % MAX_CALLS) * CALL_FIELDS;
      slot.calls.set(list.slice(c * CALL_FIELDS, (c + 1) * CALL_FIELDS), row);
    }
    slot.posted += count;
    Atomics.store(slot.ctrl, CTRL.posted, slot.posted);
    this.#wake(slot);
    return slot.posted;
  }

  /** True when worker `w` has finished the deferred job with `ticket` (and every call before it). */
  done(w: number, ticket: number): boolean {
    return Atomics.load(this.#slots[w].ctrl, CTRL.done) >= ticket;
  }

  /**
   * Blocks until worker `w` has finished deferred job `ticket`.
   * @throws {Error} when a call of a deferred job threw in the worker.
   */
  wait(w: number, ticket: number): void {
    const ctrl = this.#slots[w].ctrl;
    awaitValue(ctrl, CTRL.done, (done) => done >= ticket, this.#spin, 50);
    if (Atomics.exchange(ctrl, CTRL.error, 0) !== 0) {
      throw new Error("GemmPool: a cblas_sgemm call failed in a worker thread");
    }
  }

  #wake(slot: Slot): void {
    Atomics.add(slot.ctrl, CTRL.wake, 1);
    Atomics.notify(slot.ctrl, CTRL.wake);
  }

  /** Stops the workers (they exit after their current job) and closes this thread's library handle. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#slots) {
      Atomics.store(s.ctrl, CTRL.exit, 1);
      this.#wake(s);
    }
    this.#lib.close();
  }
}

/** The byte address of an ArrayBuffer's first byte (for {@linkcode GemmPool.addCall}). */
export function bufferAddress(buffer: ArrayBuffer): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}
