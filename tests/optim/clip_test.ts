import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../lib/nn/params.ts";
import { clipByGlobalNorm, globalNorm } from "../../lib/optim/clip.ts";
import { disposeState } from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { GRADS, toRef, toTensors } from "./_reference.ts";

const norm0 = Math.hypot(...GRADS[0]["fc.w"], ...GRADS[0]["fc.b"]);

testOnBackends("globalNorm() is the L2 norm of all tensors together", async () => {
  await assertNoLeaks(() => {
    const g = toTensors(GRADS[0]);
    assertAllClose(globalNorm(g), norm0);
    assert.equal(globalNorm({}), 0);
    disposeTree(g);
  });
});

testOnBackends("clipByGlobalNorm() scales the norm down to maxNorm when above it", async () => {
  await assertNoLeaks(() => {
    const g = toTensors(GRADS[0]);
    const maxNorm = norm0 / 4;
    const { updates } = clipByGlobalNorm(maxNorm).update(g, {});
    assertAllClose(globalNorm(updates), maxNorm);
    const ref = toRef(updates);
    for (const k in ref) assertAllClose(ref[k], GRADS[0][k].map((x) => x / 4), { msg: `${k}: ` });
    disposeState([g, updates]);
  });
});

testOnBackends("clipByGlobalNorm() leaves updates unchanged when the norm is at most maxNorm", async () => {
  await assertNoLeaks(() => {
    const g = toTensors(GRADS[0]);
    const { updates } = clipByGlobalNorm(norm0 * 1.01).update(g, {});
    const ref = toRef(updates);
    for (const k in ref) assert.deepEqual(ref[k], Array.from(g[k].dataSync()));
    assert.notEqual(updates["fc.w"], g["fc.w"]);
    disposeState([g, updates]);
  });
});

testOnBackends("clipByGlobalNorm() does not dispose its inputs and handles an empty map", async () => {
  await assertNoLeaks(() => {
    const g = { w: tf.tensor1d([3, 4]) };
    const clip = clipByGlobalNorm(1);
    const r = clip.update(g, clip.init(g));
    assert.equal(g.w.isDisposed, false);
    assert.deepEqual(clip.update({}, {}).updates, {});
    disposeState([g, r]);
  });
});

Deno.test("clipByGlobalNorm() throws std-style errors for a bad maxNorm", () => {
  assert.throws(() => clipByGlobalNorm(0), {
    name: "RangeError",
    message: "Cannot create clipByGlobalNorm: 'maxNorm' must be a positive number: current value is 0",
  });
  assert.throws(() => clipByGlobalNorm(NaN), { name: "RangeError", message: /current value is NaN/ });
  assert.throws(() => clipByGlobalNorm("1" as unknown as number), {
    name: "TypeError",
    message: `Cannot create clipByGlobalNorm: 'maxNorm' must be a number: current value is "1"`,
  });
});
