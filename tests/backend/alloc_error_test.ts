import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { AllocationError, initBackend, WASM_HEAP_MAX } from "../../lib/backend/mod.ts";
import { BLAS_AVAILABLE } from "../_util/backends.ts";

const HEAP_BACKENDS = BLAS_AVAILABLE ? ["wasm", "blas"] as const : ["wasm"] as const;

/** Runs `fn`, expecting an AllocationError, and returns it. */
function allocationError(fn: () => unknown): AllocationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AllocationError) return e;
    throw e;
  }
  assert.fail("no AllocationError");
}

for (const backend of HEAP_BACKENDS) {
  Deno.test(`a huge allocation throws AllocationError naming the size, the tensor and the op [${backend}]`, async () => {
    await initBackend({ backend });
    const before = tf.memory().numTensors;
    // 8 GiB: past what a wasm32 heap holds (its i32 size would wrap to 0 bytes). Nothing is allocated or written.
    const e = allocationError(() => tf.fill([2 ** 31], 1));
    assert.ok(e instanceof RangeError);
    assert.equal(e.bytes, 2 ** 33);
    assert.deepEqual(e.tensor, { shape: [2 ** 31], dtype: "float32" });
    assert.equal(e.op, "Fill");
    assert.match(
      e.message,
      /^Cannot allocate 8\.00 GiB \(8589934592 bytes\) for a float32 tensor \[2147483648\] in op Fill/,
    );
    assert.ok(!e.message.includes("\n"));
    // An op whose inputs are tiny and whose output is not: [65536, 1] x [1, 65536] needs 16 GiB.
    const a = tf.ones([65536, 1]), b = tf.ones([1, 65536]);
    const m = allocationError(() => tf.matMul(a, b));
    assert.equal(m.bytes, 65536 * 65536 * 4);
    assert.deepEqual(m.tensor?.shape.filter((d) => d !== 1), [65536, 65536], "the output (wasm: [1, 65536, 65536])");
    assert.match(String(m.op), /MatMul/);
    tf.dispose([a, b]);
    assert.equal(tf.memory().numTensors, before, "nothing leaked");
    const ok = tf.add(tf.scalar(1), tf.scalar(2));
    assert.equal((await ok.data())[0], 3, "the backend still works");
    ok.dispose();
  });
}

Deno.test("a _malloc that returns 0 (heap could not grow) throws instead of writing at address 0", async () => {
  await initBackend({ backend: "wasm", heap: "stock" });
  const wasm = (tf.backend() as unknown as { wasm: { _malloc: (n: number) => number; asm?: Record<string, unknown> } })
    .wasm;
  const raw = wasm.asm?.malloc as ((n: number) => number) | undefined;
  assert.ok(raw, "the module exports malloc");
  let failing = false;
  wasm._malloc = (n) => (failing ? 0 : raw(n)); // the tracker routes this to its wrapped allocator
  try {
    const x = tf.zeros([4]);
    failing = true;
    const e = allocationError(() => tf.fill([1000, 10], 2));
    assert.equal(e.bytes, 40000);
    assert.deepEqual(e.tensor, { shape: [1000, 10], dtype: "float32" });
    assert.match(e.message, /could not grow by that much/);
    failing = false;
    assert.deepEqual(Array.from(await x.data()), [0, 0, 0, 0], "memory was not overwritten");
    x.dispose();
  } finally {
    failing = false;
    wasm._malloc = raw;
  }
  assert.ok(WASM_HEAP_MAX < 2 ** 32);
});
