/**
 * Deferred matmuls: a GEMM handed to a {@linkcode GemmPool} worker while the main thread goes on with other kernels.
 * The weight gradients of the backward pass (`dW = xᵀ·dy`) are the use: nothing reads them until the optimizer, so a
 * second core computes them while the first runs the rest of the backward (elementwise kernels that cannot be split).
 *
 * Safety comes from fences on the wasm backend, not from callers:
 * - reading a pending output (any kernel, `dataSync`) goes through `dataIdMap.get` and waits for the job;
 * - sharing a pending buffer (Identity, clone) or dropping one of several references does not wait;
 * - freeing a pending input or output is postponed until the job is done (the bytes stay counted by the memory meter).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { meter } from "../memory/meter.ts";
import type { GemmPool } from "./gemm_pool.ts";

interface TensorData {
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The parts of tfjs's wasm backend the fences wrap. */
export interface FencedBackend {
  dataIdMap: { get(dataId: object): TensorData | undefined };
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

interface Job {
  ticket: number;
  outputs: object[];
  inputs: object[];
}

interface Postponed {
  dataId: object;
  bytes: number;
}

/** Pending deferred jobs on one worker of a pool, with the fences that keep their buffers safe. */
export class DeferredGemms {
  readonly #pool: GemmPool;
  readonly #worker: number;
  readonly #be: FencedBackend;
  readonly #get: FencedBackend["dataIdMap"]["get"];
  readonly #dispose: FencedBackend["disposeData"];
  readonly #incRef: FencedBackend["incRef"];
  readonly #pendingOut = new Map<object, Job>();
  readonly #pendingIn = new Map<object, Job>();
  #jobs: Job[] = [];
  #postponed: Postponed[] = [];

  /** Installs the fences on `be` (a wasm backend); jobs run on worker `worker` of `pool`. */
  constructor(pool: GemmPool, worker: number, be: FencedBackend) {
    this.#pool = pool;
    this.#worker = worker;
    this.#be = be;
    const map = be.dataIdMap;
    this.#get = map.get;
    this.#dispose = be.disposeData;
    this.#incRef = be.incRef;
    const get = this.#get, dispose = this.#dispose;
    map.get = (dataId: object) => {
      if (this.#pendingOut.size > 0 && this.#pendingOut.has(dataId)) this.#finish(this.#pendingOut.get(dataId)!);
      return get.call(map, dataId);
    };
    // Sharing (Identity, clone) and releasing a reference neither read nor write the buffer: no wait.
    be.incRef = (dataId: object) => {
      const data = get.call(map, dataId);
      if (data) data.refCount++;
    };
    be.disposeData = (dataId: object, force?: boolean) => {
      const job = this.#pendingOut.get(dataId) ?? this.#pendingIn.get(dataId);
      if (job && !this.#pool.done(this.#worker, job.ticket)) {
        const data = get.call(map, dataId);
        if (data && !force && data.refCount > 1) {
          data.refCount--;
          return false;
        }
        if (data) {
          // The worker may still use it: free it when the job is done, and keep counting its bytes until then.
          const bytes = tf.util.sizeFromShape(data.shape) * tf.util.bytesPerElement(data.dtype);
          this.#postponed.push({ dataId, bytes });
          meter().addExternal(bytes);
          return true;
        }
      }
      return dispose.call(be, dataId, force);
    };
  }

  /** Jobs not yet known to be finished. */
  get pending(): number {
    this.#settle();
    return this.#jobs.length;
  }

  /**
   * Starts `list` (calls for `GemmPool`) that reads `inputs` and writes `outputs` (tfjs data ids), and returns at once.
   * Jobs queue up on the worker and run in order.
   */
  submit(list: readonly number[], inputs: object[], outputs: object[]): void {
    this.#settle();
    const ticket = this.#pool.submit(this.#worker, list);
    const job = { ticket, inputs, outputs };
    this.#jobs.push(job);
    for (const d of outputs) this.#pendingOut.set(d, job);
    for (const d of inputs) this.#pendingIn.set(d, job);
  }

  /** Waits for every job and frees what was postponed. */
  drain(): void {
    const last = this.#jobs.at(-1);
    if (last) this.#finish(last);
  }

  /** Drains, then removes the fences. */
  dispose(): void {
    this.drain();
    this.#be.dataIdMap.get = this.#get;
    this.#be.disposeData = this.#dispose;
    this.#be.incRef = this.#incRef;
  }

  /** Waits for `job` (and so every earlier one) and settles. */
  #finish(job: Job): void {
    this.#pool.wait(this.#worker, job.ticket);
    this.#settle();
  }

  /** Forgets finished jobs and frees the inputs whose disposal they postponed. */
  #settle(): void {
    let i = 0;
    while (i < this.#jobs.length && this.#pool.done(this.#worker, this.#jobs[i].ticket)) {
      const job = this.#jobs[i++];
      for (const d of job.outputs) if (this.#pendingOut.get(d) === job) this.#pendingOut.delete(d);
      for (const d of job.inputs) if (this.#pendingIn.get(d) === job) this.#pendingIn.delete(d);
    }
    if (i > 0) this.#jobs = this.#jobs.slice(i);
    if (this.#postponed.length > 0) {
      const keep: Postponed[] = [];
      for (const p of this.#postponed) {
        if (this.#pendingIn.has(p.dataId) || this.#pendingOut.has(p.dataId)) {
          keep.push(p);
          continue;
        }
        this.#dispose.call(this.#be, p.dataId, true);
        meter().addExternal(-p.bytes);
      }
      this.#postponed = keep;
    }
  }
}
