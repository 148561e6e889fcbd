/**
 * The shared-memory protocol between {@linkcode GemmPool} and its worker threads (`gemm_worker.ts`).
 *
 * Each worker owns a control block (`Int32Array`, indices in {@linkcode CTRL}) and a call table (`Float64Array`,
 * {@linkcode CALL_FIELDS} numbers per `cblas_sgemm` call: order, transA, transB, m, n, k, alpha, A address, lda,
 * B address, ldb, beta, C address, ldc). The main thread writes the calls and `count`, then bumps `seq`; the worker
 * runs them and sets `done = seq`.
 * @module
 */

/** Indices into a worker's control block. */
export const CTRL = {
  /** Job sequence number, bumped by the main thread to start a job. */
  seq: 0,
  /** Sequence number of the last finished job, set by the worker. */
  done: 1,
  /** Number of calls in the job. */
  count: 2,
  /** 1 once the worker has opened the library. */
  ready: 3,
  /** Set to 1 (before bumping `seq`) to make the worker exit. */
  exit: 4,
  /** 1 when the last job threw in the worker. */
  error: 5,
} as const;

/** Int32 slots per control block. */
export const CTRL_SLOTS = 8;

/** Float64 numbers per call in the call table. */
export const CALL_FIELDS = 14;

/** The first message a worker receives. */
export interface WorkerInit {
  /** CBLAS library name or path (the same one the main thread opened). */
  path: string;
  /** The control block (`CTRL_SLOTS` int32). */
  ctrl: SharedArrayBuffer;
  /** The call table. */
  calls: SharedArrayBuffer;
  /** Polls of `seq` before sleeping on the futex. */
  spin: number;
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
