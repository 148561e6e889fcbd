import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { disposeTree } from "../../lib/nn/params.ts";
import { applyUpdates } from "../../lib/optim/apply.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { GRADS, P0, toTensors } from "./_reference.ts";

testOnBackends("applyUpdates() adds updates and disposes the old params and the updates", async () => {
  await assertNoLeaks(() => {
    const old = toTensors(P0), updates = toTensors(GRADS[0]);
    const next = applyUpdates(old, updates);
    for (const k in P0) assertAllClose(next[k], P0[k].map((x, i) => x + GRADS[0][k][i]), { msg: `${k}: ` });
    for (const k in P0) assert.ok(old[k].isDisposed && updates[k].isDisposed, k);
    disposeTree(next);
  });
});

testOnBackends("applyUpdates() results survive a surrounding tf.tidy", async () => {
  await assertNoLeaks(() => {
    let params = toTensors(P0);
    tf.tidy(() => {
      params = applyUpdates(params, toTensors(GRADS[0]));
    });
    assert.equal(params["fc.w"].isDisposed, false);
    assertAllClose(params["fc.b"], P0["fc.b"].map((x, i) => x + GRADS[0]["fc.b"][i]));
    disposeTree(params);
  });
});

testOnBackends("applyUpdates() rejects mismatched keys or shapes and disposes nothing", async () => {
  await assertNoLeaks(() => {
    const params = toTensors(P0);
    const missing = { "fc.w": tf.zeros([2, 3]) };
    assert.throws(() => applyUpdates(params, missing), {
      name: "TypeError",
      message: "Cannot apply updates: 'updates' has no entry for 'fc.b', which 'params' has",
    });
    const extra = { ...toTensors(P0), "fc.x": tf.zeros([1]) };
    assert.throws(() => applyUpdates(params, extra), {
      name: "TypeError",
      message: "Cannot apply updates: 'updates' has an entry for 'fc.x', which 'params' lacks",
    });
    const wrongShape = { "fc.w": tf.zeros([3, 2]), "fc.b": tf.zeros([3]) };
    assert.throws(() => applyUpdates(params, wrongShape), {
      name: "TypeError",
      message: "Cannot apply updates: 'updates' entry 'fc.w' must have shape [2,3] like the parameter: " +
        "current shape is [3,2]",
    });
    for (const t of [...Object.values(params), missing["fc.w"], wrongShape["fc.w"]]) assert.equal(t.isDisposed, false);
    for (const m of [params, missing, extra, wrongShape]) disposeTree(m);
  });
});
