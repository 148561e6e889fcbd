/**
 * One thread of the {@linkcode GemmPool}: opens the same CBLAS library and runs `cblas_sgemm` calls that the main
 * thread writes into shared memory, on raw pointers into the main thread's buffers (the wasm heap): calls of the
 * shared job first (the main thread waits for them), its deferred calls when none is left. Protocol in
 * `gemm_protocol.ts`. Runs under `node:worker_threads` so that an idle worker does not keep the process alive.
 * @module
 */
import { parentPort } from "node:worker_threads";
import {
  awaitValue,
  CALL_FIELDS,
  claimShared,
  CTRL,
  execCalls,
  MAX_CALLS,
  SGEMM_POINTERS,
  SHARED,
  type WorkerInit,
} from "./gemm_protocol.ts";

parentPort!.once("message", (init: WorkerInit) => {
  const lib = Deno.dlopen(init.path, SGEMM_POINTERS);
  const sgemm = lib.symbols.cblas_sgemm;
  const ctrl = new Int32Array(init.ctrl);
  const ring = new Float64Array(init.calls);
  const shared = new Int32Array(init.shared);
  const sharedCalls = new Float64Array(init.sharedCalls);
  Atomics.store(ctrl, CTRL.ready, 1);
  Atomics.notify(ctrl, CTRL.ready);
  let seen = 0;
  for (;;) {
    // Spin briefly (the next GEMM of a step usually follows within microseconds), then sleep on the futex.
    seen = awaitValue(ctrl, CTRL.wake, (wake) => wake !== seen, init.spin);
    if (Atomics.load(ctrl, CTRL.exit) !== 0) break;
    for (;;) {
      try {
        if (claimShared(sgemm, shared, sharedCalls)) {
          Atomics.notify(shared, SHARED.finished);
          continue;
        }
      } catch {
        Atomics.store(shared, SHARED.error, 1);
        Atomics.add(shared, SHARED.finished, 1); // the failed call counts as finished so the owner does not hang
        Atomics.notify(shared, SHARED.finished);
        continue;
      }
      const done = Atomics.load(ctrl, CTRL.done);
      if (done === Atomics.load(ctrl, CTRL.posted)) break;
      const row = (done % MAX_CALLS) * CALL_FIELDS;
      try {
        execCalls(sgemm, ring.subarray(row, row + CALL_FIELDS), 1);
      } catch {
        Atomics.store(ctrl, CTRL.error, 1);
      }
      Atomics.store(ctrl, CTRL.done, done + 1);
      Atomics.notify(ctrl, CTRL.done);
    }
  }
  lib.close();
  // Nothing else listens: the thread ends once its message port is idle (it is unref-ed by the pool).
});
