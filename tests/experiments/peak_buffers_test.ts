import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { buffersAtPeak } from "../../experiments/_lib/peak_buffers.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { meter } from "../../lib/memory/mod.ts";

Deno.test("peak buffers: the step's buffers alive at its peak, by dtype and shape; older ones left out", async () => {
  await initBackend({ backend: "wasm" });
  const held = tf.zeros([512, 512]); // 1 MiB before the function: in the peak's bytes, not in its groups
  const engine = tf.engine() as unknown as { trackTensor: unknown; removeDataId: unknown };
  const hooks = [engine.trackTensor, engine.removeDataId];
  try {
    const before = meter().live;
    const { peakBytes, groups } = buffersAtPeak(() => {
      const a = tf.ones([256, 256]);
      const shared = a.reshape([65536]); // shares a's buffer: counted once
      const mask = tf.cast(a, "bool"); // bool: one byte per element
      const b = tf.square(a); // a first peak: a, mask and b alive (0.25 + 0.0625 + 0.25 MiB)
      tf.dispose([mask, b]);
      const small = tf.zeros([8]); // below that peak: not reported
      small.dispose();
      const big = tf.zeros([512, 512]); // the peak: a and big (mask, b and small are freed)
      tf.dispose([a, shared, big]);
    });
    assert.equal(peakBytes - before, (256 * 256 + 512 * 512) * 4);
    assert.deepEqual(groups, [
      { dtype: "float32", shape: [512, 512], count: 1, mib: 1 },
      { dtype: "float32", shape: [256, 256], count: 1, mib: 0.25 },
    ]);
    assert.deepEqual([engine.trackTensor, engine.removeDataId], hooks, "the engine's hooks are restored");
  } finally {
    held.dispose();
  }
});

Deno.test("peak buffers: the hooks are restored when the function throws", async () => {
  await initBackend({ backend: "wasm" });
  const engine = tf.engine() as unknown as { trackTensor: unknown; removeDataId: unknown };
  const hooks = [engine.trackTensor, engine.removeDataId];
  assert.throws(() =>
    buffersAtPeak(() => {
      throw new Error("boom");
    }), /boom/);
  assert.deepEqual([engine.trackTensor, engine.removeDataId], hooks);
});
