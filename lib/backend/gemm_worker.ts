/**
 * One thread of the {@linkcode GemmPool}: opens the same CBLAS library and runs the `cblas_sgemm` calls the main thread
 * writes into shared memory, on raw pointers into the main thread's buffers (the wasm heap). Protocol in
 * `gemm_pool.ts`. Runs under `node:worker_threads` so that an idle worker does not keep the process alive.
 * @module
 */
import { parentPort } from "node:worker_threads";
import { CTRL, execCalls, SGEMM_POINTERS, type WorkerInit } from "./gemm_protocol.ts";

parentPort!.once("message", (init: WorkerInit) => {
  const lib = Deno.dlopen(init.path, SGEMM_POINTERS);
  const ctrl = new Int32Array(init.ctrl);
  const calls = new Float64Array(init.calls);
  Atomics.store(ctrl, CTRL.ready, 1);
  Atomics.notify(ctrl, CTRL.ready);
  let seen = 0;
  for (;;) {
    // Spin briefly (the next GEMM of a step usually follows within microseconds), then sleep on the futex.
    for (let spin = 0; spin < init.spin && Atomics.load(ctrl, CTRL.seq) === seen; spin++);
    while (Atomics.load(ctrl, CTRL.seq) === seen) Atomics.wait(ctrl, CTRL.seq, seen);
    seen = Atomics.load(ctrl, CTRL.seq);
    if (Atomics.load(ctrl, CTRL.exit) !== 0) break;
    let error = 0;
    try {
      execCalls(lib.symbols.cblas_sgemm, calls, Atomics.load(ctrl, CTRL.count));
    } catch {
      error = 1;
    }
    Atomics.store(ctrl, CTRL.error, error);
    Atomics.store(ctrl, CTRL.done, seen);
    Atomics.notify(ctrl, CTRL.done);
  }
  lib.close();
  // Nothing else listens: the thread ends once its message port is idle (it is unref-ed by the pool).
});
