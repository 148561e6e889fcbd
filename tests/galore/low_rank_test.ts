import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { findLapack, lapackSubspace } from "../../lib/galore/lapack.ts";
import { lowRankElements, lowRankWeights } from "../../lib/galore/low_rank.ts";
import { disposeTree, type Params } from "../../lib/nn/params.ts";
import { adamw, scaleByLearningRate } from "../../lib/optim/adam.ts";
import { applyUpdates } from "../../lib/optim/apply.ts";
import { disposeState } from "../../lib/optim/transform.ts";
import { assertAllClose, assertNoLeaks } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";

testOnBackends(
  "lowRankWeights: factors from the truncated SVD, SGD steps on the factors = tf.grads of L(BA)",
  async () => {
    await assertNoLeaks(() => {
      const target = tf.randomNormal([6, 9], 0, 1, "float32", 2);
      const loss = (w: tf.Tensor) => tf.mul(tf.sum(tf.square(tf.sub(w, target))), 0.5);
      let params: Params = { "mlp.w": tf.randomNormal([6, 9], 0, 1, "float32", 1), "mlp.b": tf.zeros([9]) };
      const lr = 0.05;
      const opt = lowRankWeights({ rank: 2, base: scaleByLearningRate(lr), svd: "randomized" });
      let state = opt.init(params);
      for (let step = 0; step < 3; step++) {
        const { b, a } = state.factors["mlp.w"];
        // Expected: one SGD step on (B, A) for f(B, A) = L(BA), by autodiff.
        const [gb, ga] = tf.grads((bb: tf.Tensor, aa: tf.Tensor) => loss(tf.matMul(bb, aa)))([b, a]);
        const [wantB, wantA] = tf.tidy(() => [tf.sub(b, tf.mul(gb, lr)), tf.sub(a, tf.mul(ga, lr))]);
        // The gradient the model sees is ∂L/∂W at W = BA (after the first step W = BA; at step 0 pass it at BA too).
        const wNow = tf.matMul(b, a);
        const grads = { "mlp.w": tf.sub(wNow, target), "mlp.b": tf.zeros([9]) };
        const r = opt.update(grads, state, params);
        assertAllClose(r.state.factors["mlp.w"].b, wantB, { atol: 1e-5 });
        assertAllClose(r.state.factors["mlp.w"].a, wantA, { atol: 1e-5 });
        disposeState([grads, state, gb, ga, wNow]);
        state = r.state;
        params = applyUpdates(params, r.updates);
        // W = B'A' after the step.
        const ba = tf.matMul(wantB, wantA);
        assertAllClose(params["mlp.w"], ba, { atol: 1e-5 });
        tf.dispose([wantB, wantA, ba]);
      }
      disposeState([state, target]);
      disposeTree(params);
    });
  },
);

Deno.test({
  name: "lowRankWeights: the initial factors are the balanced truncated SVD (BA = best rank-r approximation)",
  ignore: findLapack().lib === undefined,
  fn() {
    const w = tf.randomNormal([8, 12], 0, 1, "float32", 5);
    const opt = lowRankWeights({ rank: 3, base: adamw({ lr: 0.01 }), svd: "lapack" });
    const s = opt.init({ "mlp.w": w });
    const { b, a } = s.factors["mlp.w"];
    const sv = lapackSubspace(findLapack().lib!, w.dataSync() as Float32Array, 8, 12, 3, "left", "gesdd").s!;
    // ‖W − BA‖_F² equals the sum of the discarded σ² (Eckart–Young), and B, A have equal column/row norms √σ.
    const err = tf.tidy(() => tf.sum(tf.square(tf.sub(w, tf.matMul(b, a)))).dataSync()[0]);
    let tail = 0;
    for (let i = 3; i < sv.length; i++) tail += sv[i] ** 2;
    assert.ok(Math.abs(err - tail) < 1e-3 * tail, `${err} vs ${tail}`);
    const bn = tf.tidy(() => Array.from(tf.norm(b, "euclidean", 0).dataSync()));
    const an = tf.tidy(() => Array.from(tf.norm(a, "euclidean", 1).dataSync()));
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(bn[i] - Math.sqrt(sv[i])) < 1e-4 && Math.abs(an[i] - Math.sqrt(sv[i])) < 1e-4);
    }
    disposeState([s, w]);
  },
});

Deno.test("lowRankWeights: bad rank and missing params are errors; element counts", () => {
  assert.throws(() => lowRankWeights({ rank: 0, base: adamw({ lr: 0.1 }) }), /'rank' must be an integer >= 1/);
  const p = { "mlp.w": tf.zeros([4, 6]) };
  assert.throws(
    () => lowRankWeights({ rank: 5, base: adamw({ lr: 0.1 }), svd: "randomized" }).init(p),
    /'rank' must be <= min\(m, n\) = 4 for parameter 'mlp.w' \[4,6\]: current value is 5/,
  );
  const opt = lowRankWeights({ rank: 2, base: adamw({ lr: 0.1 }), svd: "randomized" });
  const s = opt.init(p);
  assert.throws(() => opt.update({ "mlp.w": tf.zeros([4, 6]) }, s), /'params' is required/);
  disposeState([p, s]);
  assert.deepEqual(lowRankElements({ "attn.w": [4, 6], "embed": [3, 3] }, 2), { weights: 20 + 9, state: 58 });
});
