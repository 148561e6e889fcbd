import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { Params } from "../../lib/nn/params.ts";
import { adam, adamw, scaleByAdam } from "../../lib/optim/adam.ts";
import { adamBiasCorrection, adamUpdate } from "../../lib/optim/adam_kernel.ts";
import { disposeState, type GradientTransform } from "../../lib/optim/transform.ts";
import { assertNoLeaks, maxRelError } from "../_util/assert_close.ts";
import { testOnBackends } from "../_util/backends.ts";
import { type Implementation, testOnImplementations, withImplementation } from "../_util/implementations.ts";

const SHAPES: Record<string, number[]> = { "fc.w": [7, 5], "fc.b": [5], "ln.g": [3], "emb.wte": [4, 6] };

function tensors(seed: number, scale = 1): Params {
  return Object.fromEntries(
    Object.entries(SHAPES).map(([k, s], i) => [k, tf.randomNormal(s, 0, scale, "float32", seed + i)]),
  );
}

/** Three updates of `opt` with `impl` from fixed params and grads; returns every update and the final state. */
function run<S>(opt: GradientTransform<S>, impl: Implementation): Float32Array[] {
  return withImplementation(impl, () => runNow(opt));
}

function runNow<S>(opt: GradientTransform<S>): Float32Array[] {
  const params = tensors(1);
  let state = opt.init(params);
  const out: Float32Array[] = [];
  try {
    for (let step = 0; step < 3; step++) {
      const grads = tensors(10 * (step + 1), 0.5);
      const { updates, state: next } = opt.update(grads, state, params);
      out.push(...Object.values(updates).map((u) => Float32Array.from(u.dataSync())));
      tf.dispose([...Object.values(grads), ...Object.values(updates)]);
      disposeState(state);
      state = next;
    }
    const flat: tf.Tensor[] = [];
    JSON.stringify(state, (_k, v) => (v instanceof tf.Tensor ? (flat.push(v), null) : v));
    out.push(...flat.map((t) => Float32Array.from(t.dataSync())));
    return out;
  } finally {
    disposeState(state);
    tf.dispose(Object.values(params));
  }
}

testOnImplementations("fused Adam equals the stock chain", async (_backend, impl) => {
  await assertNoLeaks(() => {
    const lr = (step: number) => 0.01 / (1 + step);
    const cases: [string, () => GradientTransform<unknown>][] = [
      ["adamw", () => adamw({ lr: 0.01, weightDecay: 0.1 }) as GradientTransform<unknown>],
      ["adamw schedule", () => adamw({ lr, b1: 0.8, b2: 0.99, eps: 1e-3 }) as GradientTransform<unknown>],
      ["adam", () => adam({ lr: 0.05 }) as GradientTransform<unknown>],
      ["scaleByAdam", () => scaleByAdam({ b1: 0.5 }) as GradientTransform<unknown>],
    ];
    for (const [name, make] of cases) {
      const fused = run(make(), impl), stock = run(make(), "stock");
      assert.equal(fused.length, stock.length);
      fused.forEach((a, i) => {
        const err = maxRelError(a, stock[i]);
        assert.ok(err <= 1e-5, `${name} tensor ${i}: max relative error ${err.toExponential(2)}`);
      });
    }
  });
}, { impls: ["fused-js", "simd"] });

testOnImplementations("adamw (fused or the chain) keeps the chain's state layout and errors", async () => {
  await assertNoLeaks(() => {
    const opt = adamw({ lr: 1e-3 });
    const params = tensors(1), grads = tensors(2);
    const s0 = opt.init(params);
    const r = opt.update(grads, s0, params);
    assert.equal(r.state[0].count, 1);
    assert.deepEqual(r.state[1], {});
    assert.equal(r.state[2].count, 1);
    assert.deepEqual(Object.keys(r.state[0].mu).sort(), Object.keys(SHAPES).sort());
    assert.throws(() => opt.update(grads, s0), { name: "TypeError", message: /'params' is required/ });
    assert.throws(() => opt.update(grads, [s0[0]] as unknown as typeof s0, params), { name: "TypeError" });
    disposeState([params, grads, s0, r]);
  });
});

Deno.test("adamBiasCorrection: stepScale·m / (√v + epsHat) is the textbook m̂ / (√v̂ + eps)", () => {
  for (const [b1, b2, eps] of [[0.9, 0.999, 1e-8], [0.8, 0.99, 1e-3], [0.5, 0.9, 0]]) {
    for (const t of [1, 2, 3, 10, 100, 1000]) {
      const { stepScale, epsHat } = adamBiasCorrection(b1, b2, eps, t);
      for (const [m, v] of [[0.3, 0.04], [-2, 1e-6], [1e-4, 5]]) {
        const textbook = (m / (1 - b1 ** t)) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
        const ours = stepScale * m / (Math.sqrt(v) + epsHat);
        assert.ok(Math.abs(ours - textbook) <= 1e-12 * Math.abs(textbook), `b1 ${b1} b2 ${b2} t ${t}: ${ours}`);
      }
    }
  }
});

testOnBackends("adamUpdate's stock ops (scale, decay) equal the adamw chain bit-for-bit", async () => {
  await assertNoLeaks(() => {
    withImplementation("stock", () => {
      const lr = 0.01, weightDecay = 0.1;
      const opt = adamw({ lr, weightDecay, mask: () => true });
      const params = tensors(1), grads = tensors(2, 0.5);
      const s0 = opt.init(params);
      const { updates, state } = opt.update(grads, s0, params);
      const common = { b1: 0.9, b2: 0.999, ...adamBiasCorrection(0.9, 0.999, 1e-8, 1) };
      for (const k of Object.keys(SHAPES)) {
        const [m, v, u] = adamUpdate(grads[k], s0[0].mu[k], s0[0].nu[k], params[k], {
          ...common,
          scale: -lr,
          wd: weightDecay,
        });
        for (
          const [name, a, b] of [["m", m, state[0].mu[k]], ["v", v, state[0].nu[k]], ["u", u, updates[k]]] as const
        ) {
          assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), `${k} ${name}`);
        }
        tf.dispose([m, v, u]);
      }
      disposeState([params, grads, s0, updates, state]);
    });
  });
});
