/**
 * A pool of worker threads that run `cblas_sgemm` calls on raw pointers, so that one matmul kernel can be split across
 * cores with each part on a single-threaded BLAS. tfjs kernels are synchronous, so the main thread hands parts to the
 * workers through shared memory, runs its own part, and waits on a futex; no event-loop turn is needed.
 *
 * Why not OpenBLAS's own threads: a batched matmul is many small GEMMs (attention: 32 × [128×64]·[64×128]) that
 * OpenBLAS either runs on one thread or splits with a join per matrix; splitting the batch between threads runs each
 * matrix on one core with one join per kernel. Large GEMMs are split by rows or columns.
 * @module
 */
import { Worker } from "node:worker_threads";
import { CALL_FIELDS, CTRL, CTRL_SLOTS, execCalls, SGEMM_POINTERS, type WorkerInit } from "./gemm_protocol.ts";

const MAX_CALLS = 4096;

interface Slot {
  worker: Worker;
  ctrl: Int32Array;
  calls: Float64Array;
  seq: number;
}

/** Options for {@linkcode GemmPool.spawn}. */
export interface GemmPoolOptions {
  /** Polls before a waiting thread sleeps on the futex (trades idle CPU for wake-up latency). @default {20000} */
  spin?: number;
}

/**
 * `workers` extra threads for `cblas_sgemm` calls; the calling thread is the pool's thread 0.
 *
 * @example Usage
 * ```ts ignore
 * const pool = GemmPool.spawn("libopenblas.so.0", 1);
 * await pool.whenReady();
 * const job = [[], []] as number[][]; // calls per thread (thread 0 = this one), CALL_FIELDS numbers each
 * GemmPool.addCall(job[1], { m: 2, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2 }); // a, b, c: byte addresses
 * pool.run(job);
 * pool.close();
 * ```
 */
export class GemmPool {
  readonly #slots: Slot[];
  readonly #lib: Deno.DynamicLibrary<typeof SGEMM_POINTERS>;
  readonly #spin: number;
  #closed = false;

  private constructor(path: string, workers: number, spin: number) {
    this.#lib = Deno.dlopen(path, SGEMM_POINTERS);
    this.#spin = spin;
    this.#slots = [];
    for (let i = 0; i < workers; i++) {
      const ctrl = new SharedArrayBuffer(4 * CTRL_SLOTS);
      const calls = new SharedArrayBuffer(8 * CALL_FIELDS * MAX_CALLS);
      const worker = new Worker(new URL("./gemm_worker.ts", import.meta.url));
      worker.unref(); // an idle pool must not keep the process alive
      worker.postMessage({ path, ctrl, calls, spin } satisfies WorkerInit);
      this.#slots.push({ worker, ctrl: new Int32Array(ctrl), calls: new Float64Array(calls), seq: 0 });
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

  /** Appends one call (row-major; addresses in bytes) to a thread's call list. */
  static addCall(
    list: number[],
    c: {
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
    },
  ): void {
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
  async whenReady(timeoutMs = 10000): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (!this.ready) {
      if (this.#closed || performance.now() > end) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  }

  /**
   * Runs `job[t]` (flat call lists, {@linkcode CALL_FIELDS} numbers per call) on thread t, thread 0 being the caller,
   * and returns when all are done. Lists beyond the pool's size, and everything while it is not ready, run here.
   * @throws {Error} when a worker's call threw.
   */
  run(job: readonly number[][]): void {
    const ready = this.ready;
    const started: Slot[] = [];
    for (let t = 1; t < job.length; t++) {
      const list = job[t];
      if (list.length === 0) continue;
      const slot = ready ? this.#slots[t - 1] : undefined;
      // A worker still busy with a deferred job, or a list too long for its table: run the part here.
      if (!slot || this.#busy(slot) || list.length > CALL_FIELDS * MAX_CALLS) {
        this.#exec(list);
        continue;
      }
      this.#start(slot, list);
      started.push(slot);
    }
    if (job.length > 0) this.#exec(job[0]);
    let failed = false;
    for (const slot of started) failed = !this.#join(slot) || failed;
    if (failed) throw new Error("GemmPool: a cblas_sgemm call failed in a worker thread");
  }

  /**
   * Starts `list` on worker `w` (0-based) and returns at once with a ticket for {@linkcode GemmPool.wait}; the caller
   * must keep every buffer the calls touch alive and unread until then. Waits first if the worker is still busy.
   * @throws {RangeError} when the pool is not ready, `w` is out of range or the list is too long.
   */
  submit(w: number, list: readonly number[]): number {
    const slot = this.#slots[w];
    if (!this.ready || !slot || list.length > CALL_FIELDS * MAX_CALLS) {
      throw new RangeError(`Cannot submit to GemmPool worker ${w}: pool not ready, no such worker or too many calls`);
    }
    if (this.#busy(slot)) this.wait(w, slot.seq);
    this.#start(slot, list);
    return slot.seq;
  }

  /** True when worker `w` has finished job `ticket` (and every job before it). */
  done(w: number, ticket: number): boolean {
    return Atomics.load(this.#slots[w].ctrl, CTRL.done) >= ticket;
  }

  /**
   * Blocks until worker `w` has finished job `ticket`.
   * @throws {Error} when a call of that job threw in the worker.
   */
  wait(w: number, ticket: number): void {
    const slot = this.#slots[w];
    if (Atomics.load(slot.ctrl, CTRL.done) >= ticket) return;
    if (!this.#join(slot)) throw new Error("GemmPool: a cblas_sgemm call failed in a worker thread");
  }

  #busy(slot: Slot): boolean {
    return Atomics.load(slot.ctrl, CTRL.done) !== slot.seq;
  }

  #start(slot: Slot, list: readonly number[]): void {
    slot.calls.set(list);
    Atomics.store(slot.ctrl, CTRL.count, list.length / CALL_FIELDS);
    Atomics.store(slot.ctrl, CTRL.seq, ++slot.seq);
    Atomics.notify(slot.ctrl, CTRL.seq);
  }

  /** Waits for the slot's latest job; false when it failed. */
  #join(slot: Slot): boolean {
    for (let spin = 0; spin < this.#spin && Atomics.load(slot.ctrl, CTRL.done) !== slot.seq; spin++);
    for (;;) {
      const done = Atomics.load(slot.ctrl, CTRL.done);
      if (done === slot.seq) break;
      Atomics.wait(slot.ctrl, CTRL.done, done);
    }
    return Atomics.load(slot.ctrl, CTRL.error) === 0;
  }

  #exec(list: readonly number[]): void {
    execCalls(this.#lib.symbols.cblas_sgemm, list, list.length / CALL_FIELDS);
  }

  /** Stops the workers (they exit after their current job) and closes this thread's library handle. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#slots) {
      Atomics.store(s.ctrl, CTRL.exit, 1);
      Atomics.store(s.ctrl, CTRL.seq, ++s.seq);
      Atomics.notify(s.ctrl, CTRL.seq);
    }
    this.#lib.close();
  }
}

/** The byte address of an ArrayBuffer's first byte (for {@linkcode GemmPool.addCall}). */
export function bufferAddress(buffer: ArrayBuffer): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}
