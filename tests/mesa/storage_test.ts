import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { meter } from "../../lib/memory/meter.ts";
import { bytePaths, packBytes, unpackBytes } from "../../lib/mesa/storage.ts";
import { testOnBackends } from "../_util/backends.ts";

const ALL = Int32Array.from({ length: 256 }, (_, i) => i);

testOnBackends("packBytes/unpackBytes round-trip all 256 byte values exactly", () => {
  tf.tidy(() => {
    for (const src of [tf.tensor1d(ALL, "int32"), tf.tensor1d(Float32Array.from(ALL))]) {
      const bytes = packBytes(src.reshape([16, 16]));
      assert.equal(bytes.dtype, "bool");
      assert.deepEqual(bytes.shape, [16, 16]);
      assert.deepEqual(Array.from(bytes.dataSync()), Array.from(ALL), `raw bytes from ${src.dtype} codes`);
      const asInt = unpackBytes(bytes);
      assert.equal(asInt.dtype, "int32");
      assert.deepEqual(Array.from(asInt.dataSync()), Array.from(ALL));
      const asFloat = unpackBytes(bytes, "float32");
      assert.equal(asFloat.dtype, "float32");
      assert.deepEqual(Array.from(asFloat.dataSync()), Array.from(ALL));
    }
  });
});

testOnBackends("packBytes uses the on-device cast on wasm and the download path on cpu", () => {
  const paths = bytePaths();
  assert.equal(paths.castUnpack, true, "bool -> int32/float32 reads raw bytes on every backend");
  assert.equal(paths.castPack, tf.getBackend() === "wasm");
});

testOnBackends("packed bytes cost 1 byte per element in the meter and tf.memory()", () => {
  const codes = tf.tensor1d(Int32Array.from({ length: 4096 }, (_, i) => i % 256), "int32");
  const m = meter();
  const before = m.live, beforeTf = tf.memory().numBytes, beforeN = tf.memory().numTensors;
  const bytes = packBytes(codes);
  assert.equal(m.live - before, 4096, "meter: unique buffers");
  assert.equal(tf.memory().numBytes - beforeTf, 4096, "tf.memory().numBytes");
  assert.equal(tf.memory().numTensors - beforeN, 1, "no intermediate tensors left behind");
  bytes.dispose();
  codes.dispose();
  assert.equal(m.live - before, -16384);
});

testOnBackends("packBytes/unpackBytes reject wrong dtypes with a TypeError naming it", () => {
  const b = tf.tensor1d([1, 0], "bool"), f = tf.tensor1d([1, 2]);
  assert.throws(() => packBytes(b), { name: "TypeError", message: /current dtype is bool/ });
  assert.throws(() => unpackBytes(f), { name: "TypeError", message: /current dtype is float32/ });
  b.dispose();
  f.dispose();
});
