/**
 * The shared-memory protocol between {@linkcode GemmPool} and its worker threads (`gemm_worker.ts`).
 *
 * Calls are rows of {@linkcode CALL_FIELDS} float64 numbers (one `cblas_sgemm` call: order, transA, transB, m, n, k,
 * alpha, A address, lda, B address, ldb, beta, C address, ldc). There are two kinds of jobs:
 * - a **shared** job (one table for the whole pool): the main thread and every worker claim calls with an atomic
 *   counter until none are left, so a worker that is busy elsewhere simply claims fewer;
 * - **deferred** calls (a ring of calls per worker): the worker runs them in order while the main thread goes on,
 *   counting them in `done`; a deferred job's ticket is the `posted` count after its last call.
 *
 * A worker prefers shared calls (the main thread is waiting for them) and runs a deferred call whenever none is left.
 * Each worker has a control block (`Int32Array`, indices in {@linkcode CTRL}); the shared job has its own
 * ({@linkcode SHARED}). Any new work bumps a worker's `wake` and notifies it.
 * @module
 */

/** Indices into a worker's control block. */
export const CTRL = {
  /** Bumped by the main thread for every new job (shared or deferred) and at exit; workers sleep on it. */
  wake: 0,
  /** Deferred calls posted so far (call `i` sits in ring row `i mod MAX_CALLS`). */
  posted: 1,
  /** Deferred calls finished so far, set by the worker. */
  done: 2,
  /** 1 once the worker has opened the library. */
  ready: 3,
  /** Set to 1 (before bumping `wake`) to make the worker exit. */
  exit: 4,
  /** 1 when a deferred call threw in the worker. */
  error: 5,
} as const;

/** Int32 slots per control block. */
export const CTRL_SLOTS = 8;

/** Indices into the shared job's control block. */
export const SHARED = {
  /** Next call to claim (`Atomics.add`); {@linkcode CLOSED} while the table is being written. */
  next: 0,
  /** Calls in the job. */
  count: 1,
  /** Calls finished. */
  finished: 2,
  /** 1 when a shared call threw in a worker. */
  error: 3,
} as const;

/** Int32 slots of the shared control block. */
export const SHARED_SLOTS = 4;

/** `next` while no job is open: every claim lands beyond any count. */
export const CLOSED = 1 << 30;

/** Float64 numbers per call in a call table. */
export const CALL_FIELDS = 14;

/** Calls a table holds. */
export const MAX_CALLS = 4096;

/** The first message a worker receives. */
export interface WorkerInit {
  /** CBLAS library name or path (the same one the main thread opened). */
  path: string;
  /** The worker's control block (`CTRL_SLOTS` int32). */
  ctrl: SharedArrayBuffer;
  /** The worker's ring of deferred calls. */
  calls: SharedArrayBuffer;
  /** The shared job's control block (`SHARED_SLOTS` int32). */
  shared: SharedArrayBuffer;
  /** The shared call table. */
  sharedCalls: SharedArrayBuffer;
  /** Polls before sleeping on the futex. */
  spin: number;
}

/**
 * Waits until `ready(a[i])`: polls `spin` times (wake-ups on the futex take tens of microseconds, and the awaited
 * event is often that close), then sleeps on the futex, re-checking at least every `timeoutMs`. Returns the value seen.
 */
export function awaitValue(
  a: Int32Array,
  i: number,
  ready: (value: number) => boolean,
  spin: number,
  timeoutMs = Infinity,
): number {
  let v = Atomics.load(a, i);
  for (let n = 0; n < spin && !ready(v); n++) v = Atomics.load(a, i);
  while (!ready(v)) {
    Atomics.wait(a, i, v, timeoutMs);
    v = Atomics.load(a, i);
  }
  return v;
}

/**
 * Claims and runs one call of the shared job; false when none is left. Each finished call bumps `finished` (the owner
 * waits for `finished == count`).
 */
export function claimShared(
  sgemm: Deno.DynamicLibrary<typeof SGEMM_POINTERS>["symbols"]["cblas_sgemm"],
  shared: Int32Array,
  calls: Float64Array,
): boolean {
  // `count` is read before claiming: a claim that raced with the owner opening a new job then fails, since the owner
  // closes `next` before it writes the table and the new count.
  const count = Atomics.load(shared, SHARED.count);
  if (Atomics.load(shared, SHARED.next) >= count) return false;
  const i = Atomics.add(shared, SHARED.next, 1);
  if (i >= count) return false;
  execCalls(sgemm, calls.subarray(i * CALL_FIELDS, (i + 1) * CALL_FIELDS), 1);
  Atomics.add(shared, SHARED.finished, 1);
  return true;
}

/** The `cblas_sgemm` FFI parameter list, with the three matrices passed as `P` ("buffer" or "pointer"). */
export function sgemmParameters<P extends "buffer" | "pointer">(matrix: P) {
  return ["i32", "i32", "i32", "i32", "i32", "i32", "f32", matrix, "i32", matrix, "i32", "f32", matrix, "i32"] as const;
}

/** `cblas_sgemm` opened with pointer matrices. */
export const SGEMM_POINTERS = {
  cblas_sgemm: { parameters: sgemmParameters("pointer"), result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Runs `count` calls of a call table (byte addresses become pointers). */
export function execCalls(
  sgemm: Deno.DynamicLibrary<typeof SGEMM_POINTERS>["symbols"]["cblas_sgemm"],
  c: ArrayLike<number>,
  count: number,
): void {
  const ptr = (address: number) => Deno.UnsafePointer.create(BigInt(address));
  for (let i = 0, o = 0; i < count; i++, o += CALL_FIELDS) {
    sgemm(
      c[o],
      c[o + 1],
      c[o + 2],
      c[o + 3],
      c[o + 4],
      c[o + 5],
      c[o + 6],
      ptr(c[o + 7]),
      c[o + 8],
      ptr(c[o + 9]),
      c[o + 10],
      c[o + 11],
      ptr(c[o + 12]),
      c[o + 13],
    );
  }
}

/**
 * Resolves true once `ready()` holds, or false when `closed()` does or `timeoutMs` pass first; checks every 2 ms on
 * the event loop (a worker's start-up, which posts no message: it flips a flag in shared memory).
 */
export async function whenReady(ready: () => boolean, closed: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!ready()) {
    if (closed() || performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}
