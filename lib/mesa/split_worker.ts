/**
 * The worker thread of {@linkcode MesaSplitter} (`split.ts`): quantizes elements `[e0, e1)` of a tensor on the main
 * thread's wasm heap, reached through raw pointers, in chunks copied into its own wasm memory where the same SIMD loop
 * (`simd.ts`) runs; the codes are copied back. Runs under `node:worker_threads` so that it does not keep the process
 * alive.
 * @module
 */
import { parentPort } from "node:worker_threads";
import { awaitValue } from "../backend/gemm_protocol.ts";
import { mesaSimd } from "./simd.ts";
import { quantizeRange, SPLIT_CHUNK, SPLIT_CTRL, type SplitWorkerInit } from "./split.ts";

const PAGE = 65536;

/** `len` bytes at absolute address `address` of this process, as a byte view (no copy). */
function bytesAt(address: number, len: number): Uint8Array {
  if (len === 0) return new Uint8Array(0);
  const p = Deno.UnsafePointer.create(BigInt(address));
  return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p!, len));
}

parentPort!.once("message", (init: SplitWorkerInit) => {
  const ctrl = new Int32Array(init.ctrl), job = new Float64Array(init.job);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((5 * SPLIT_CHUNK + 8 * 1024) / PAGE) });
  const be = { wasm: { HEAPU8: new Uint8Array(memory.buffer), asm: { memory } } };
  const sk = mesaSimd(be);
  Atomics.store(ctrl, SPLIT_CTRL.ready, sk ? 1 : 0); // without SIMD the pool is never ready: all runs on the caller
  let seen = 0;
  for (;;) {
    seen = awaitValue(ctrl, SPLIT_CTRL.wake, (wake) => wake !== seen, init.spin);
    if (Atomics.load(ctrl, SPLIT_CTRL.exit) !== 0 || !sk) break;
    try {
      const [x, c, alpha, beta, pre, groups, rest, key, nearest, e0, e1] = job;
      const X = 0, C = 4 * SPLIT_CHUNK, A = 5 * SPLIT_CHUNK, B = A + 4 * groups;
      const need = B + 4 * groups;
      if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
      const heap = new Uint8Array(memory.buffer);
      heap.set(bytesAt(alpha, 4 * groups), A);
      heap.set(bytesAt(beta, 4 * groups), B);
      const xs = bytesAt(x + 4 * e0, 4 * (e1 - e0)), cs = bytesAt(c + e0, e1 - e0);
      const local = { x: X, c: C, alpha: A, beta: B, pre, groups, rest, key, nearest };
      for (let c0 = e0; c0 < e1; c0 += SPLIT_CHUNK) {
        const c1 = Math.min(e1, c0 + SPLIT_CHUNK);
        heap.set(xs.subarray(4 * (c0 - e0), 4 * (c1 - e0)), X);
        quantizeRange(sk, local, c0, c1, c0);
        cs.set(heap.subarray(C, C + (c1 - c0)), c0 - e0);
      }
    } catch {
      Atomics.store(ctrl, SPLIT_CTRL.error, 1);
    }
    Atomics.store(ctrl, SPLIT_CTRL.done, seen);
    Atomics.notify(ctrl, SPLIT_CTRL.done);
  }
});
