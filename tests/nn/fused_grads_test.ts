/**
 * The fused kernels' explicit backward, checked against tfjs autodiff. Every layer runs forward and backward with the
 * fused kernels active (asserted from a profile of the run: each kernel the layer uses must appear), and its input and
 * parameter gradients are compared with `tf.grads` of the same forward under the tape, where the stock differentiable
 * ops run; and with the same explicit backward on the stock ops (fused kernels off). On wasm and blas, with the SIMD
 * loops and with the JS loops.
 *
 * Bounds: the norm-relative error `‖a − e‖₂ / ‖e‖₂` of every gradient is at most {@linkcode TOL_LAYER} for the layer
 * cases and {@linkcode TOL_GPT} for the whole GPT. Measured here (float32 rounding, fixed seeds, all four runs):
 * at most 2.8e-7 against tf.grads and 2.6e-7 against the stock explicit path for the layers; 2.8e-6 and 2.4e-6 for
 * the GPT, where the largest are the final LayerNorm's and the head's bias gradients (sums over all 48 rows).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend, setFusedKernels, setFusedSimd } from "../../lib/backend/mod.ts";
import { initParams } from "../../lib/models/init.ts";
import { createGpt } from "../../lib/models/mod.ts";
import { Context, SavedStore } from "../../lib/nn/context.ts";
import { CAUSAL_KERNELS as C, NN_KERNELS as K } from "../../lib/nn/kernels/mod.ts";
import { isBlasPatched } from "../../lib/backend/blas_patch.ts";
import type { Layer } from "../../lib/nn/layer.ts";
import { Embedding, Gelu, LayerNorm, Linear, SelfAttention, SoftmaxCrossEntropy } from "../../lib/nn/mod.ts";
import { keepAll } from "../../lib/nn/policy.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import type { Params } from "../../lib/nn/params.ts";
import { backprop } from "../../lib/train/mod.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { TEST_BACKENDS } from "../_util/backends.ts";

/** The bound on a layer gradient's norm-relative error (7x the largest measured; see the module doc). */
const TOL_LAYER = 2e-6;
/** The bound on a GPT gradient's norm-relative error (3.6x the largest measured). */
const TOL_GPT = 1e-5;

function normRelError(a: ArrayLike<number>, e: ArrayLike<number>): number {
  assert.equal(a.length, e.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - e[i]) ** 2;
    den += e[i] ** 2;
  }
  return Number.isNaN(num) ? Infinity : Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Named gradients as arrays. */
type GradArrays = Record<string, Float32Array>;

const arrays = (ts: Record<string, tf.Tensor>): GradArrays =>
  Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, Float32Array.from(t.dataSync() as Float32Array)]));

/** A loss `sum(y·dy)` (or the cross-entropy), its explicit gradients and its forward under `tf.grads`. */
interface Case {
  /** Shown in failures; "GPT..." selects the GPT bound. */
  name: string;
  /** Fused kernels the explicit forward + backward must run. */
  kernels: string[];
  /** The explicit gradients (names -> tensors), run with whatever the options say. */
  explicit(): Record<string, tf.Tensor>;
  /** `tf.grads` of the same loss (under the tape: stock ops). */
  oracle(): Record<string, tf.Tensor>;
  dispose(): void;
}

function paramsOf(layer: Layer, seed = 3): Params {
  const base = initParams(layer.paramSpecs(), seed);
  const out: Params = {};
  for (const [k, v] of Object.entries(base)) {
    out[k] = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", seed + k.length)));
    v.dispose();
  }
  return out;
}

function layerCase(name: string, layer: Layer, x: tf.Tensor, kernels: string[]): Case {
  const params = paramsOf(layer);
  const names = Object.keys(params);
  const diffX = x.dtype === "float32";
  const dy = tf.tidy(() => tf.randomNormal(layer.outputShape(x.shape), 0, 1, "float32", 11));
  return {
    name,
    kernels,
    explicit: () =>
      tf.tidy(() => {
        const ctx = new Context({ params, selector: keepAll });
        layer.forward(x, ctx);
        const dx = layer.backward(dy, ctx);
        const out: Record<string, tf.Tensor> = { ...ctx.grads };
        if (diffX && dx) out.x = dx;
        return out;
      }),
    oracle: () =>
      tf.tidy(() => {
        const store = new SavedStore();
        const f = (...args: tf.Tensor[]) => {
          const ps = diffX ? args.slice(1) : args;
          const p: Params = {};
          names.forEach((n, i) => (p[n] = ps[i]));
          return tf.sum(tf.mul(layer.forward(diffX ? args[0] : x, new Context({ params: p, store })), dy));
        };
        const g = tf.grads(f)(diffX ? [x, ...names.map((n) => params[n])] : names.map((n) => params[n]));
        store.dispose();
        const out: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => (out[n] = g[diffX ? i + 1 : i]));
        if (diffX) out.x = g[0];
        return out;
      }),
    dispose: () => tf.dispose([x, dy, ...Object.values(params)]),
  };
}

function crossEntropyCase(): Case {
  const loss = new SoftmaxCrossEntropy();
  const logits = tf.randomNormal([3, 5, 11], 0, 2, "float32", 21);
  const targets = tf.tensor2d([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [0, 0, 3, 10, 1]], undefined, "int32");
  return {
    name: "SoftmaxCrossEntropy",
    kernels: [K.softmaxXent, K.softmaxXentGrad],
    explicit: () =>
      tf.tidy(() => {
        const ctx = new Context({ params: {}, selector: keepAll });
        loss.forward(logits, targets, ctx);
        return { logits: loss.backward(ctx, logits.shape, 0.7) };
      }),
    oracle: () =>
      tf.tidy(() => {
        const store = new SavedStore();
        const g = tf.grad((z: tf.Tensor) => tf.mul(loss.forward(z, targets, new Context({ params: {}, store })), 0.7));
        const out = { logits: g(logits) };
        store.dispose();
        return out;
      }),
    dispose: () => tf.dispose([logits, targets]),
  };
}

function gptCase(): Case {
  const gpt = createGpt({ vocab: 24, context: 16, dim: 32, layers: 2, heads: 4, mlpRatio: 4 }, { seed: 5 });
  const x = tf.tensor2d(Array.from({ length: 3 * 16 }, (_, i) => (i * 7) % 24), [3, 16], "int32");
  const y = tf.tensor2d(Array.from({ length: 3 * 16 }, (_, i) => (i * 5 + 2) % 24), [3, 16], "int32");
  const names = Object.keys(gpt.params);
  return {
    name: "GPT (2 blocks) forward + backward",
    // On blas, causal attention's blocked products replace the head merges.
    kernels: isBlasPatched()
      ? [...Object.values(K).filter((k) => k !== K.mergeHeads), C.causalScores, C.causalLowerMatMul, C.causalQkvGrad]
      : Object.values(K),
    explicit: () => backprop().lossAndGrads(gpt, { x, y }).grads,
    oracle: () =>
      tf.tidy(() => {
        const store = new SavedStore();
        const trunk = new Sequence("", gpt.layers.slice());
        const f = (...ps: tf.Tensor[]) => {
          const params: Params = {};
          names.forEach((n, i) => (params[n] = ps[i]));
          const ctx = new Context({ params, store });
          return gpt.loss.forward(trunk.forward(x, ctx), y, ctx.child("loss"));
        };
        const g = tf.grads(f)(names.map((n) => gpt.params[n]));
        store.dispose();
        return Object.fromEntries(names.map((n, i) => [n, g[i]]));
      }),
    dispose: () => tf.dispose([x, y, ...Object.values(gpt.params)]),
  };
}

const CASES: (() => Case)[] = [
  () =>
    layerCase("Linear 12->7", new Linear("fc", 12, 7), tf.randomNormal([2, 5, 12], 0, 1, "float32", 1), [K.columnSum]),
  () => layerCase("Linear 16->8", new Linear("fc", 16, 8), tf.randomNormal([3, 16], 0, 1, "float32", 2), [K.columnSum]),
  ...[16, 18].map((d) => () =>
    layerCase(`LayerNorm D=${d}`, new LayerNorm("ln", d), tf.randomNormal([3, 4, d], 0.5, 2, "float32", 3), [
      K.layerNorm,
      K.layerNormGrad,
    ])
  ),
  ...[[4, 9], [4, 16]].map((shape) => () =>
    layerCase(`Gelu [${shape}]`, new Gelu("gelu"), tf.randomNormal(shape, 0, 2, "float32", 4), [K.gelu, K.geluGrad])
  ),
  ...[6, 8].flatMap((t) =>
    [true, false].map((causal) => () =>
      layerCase(
        `SelfAttention T=${t} causal=${causal}`,
        new SelfAttention("attn", 16, 4, { causal }),
        tf.randomNormal([2, t, 16], 0, 1, "float32", 5),
        // On blas, causal attention's blocked products read and write the heads in place (no merge).
        causal && isBlasPatched()
          ? [K.splitHeads, C.causalScores, C.causalLowerMatMul, C.causalQkvGrad, K.scaledSoftmax, K.softmaxGrad]
          : [K.splitHeads, K.mergeHeads, K.scaledSoftmax, K.softmaxGrad, K.columnSum],
      )
    )
  ),
  () =>
    layerCase(
      "Embedding",
      new Embedding("emb", 11, 8, 6),
      tf.tensor2d([[1, 2, 3, 1, 1], [10, 0, 0, 5, 2]], undefined, "int32"),
      [K.embed, K.columnSum],
    ),
  crossEntropyCase,
  gptCase,
];

/** Runs `f` and returns its result with the names of the kernels it ran. */
async function profiled<T>(f: () => T): Promise<{ result: T; kernels: Set<string> }> {
  let result: T;
  const info = await tf.profile(() => void (result = f()));
  return { result: result!, kernels: new Set(info.kernels.map((k) => k.name)) };
}

for (const backend of TEST_BACKENDS.filter((b) => b === "wasm" || b === "blas")) {
  for (const simd of [true, false]) {
    Deno.test(`fused kernels' explicit backward matches tf.grads and the stock path [${backend}, ${simd ? "SIMD" : "JS"}]`, async () => {
      await initBackend({ backend });
      const simdBefore = setFusedSimd(simd);
      try {
        await assertNoLeaks(async () => {
          for (const make of CASES) {
            const c = make();
            try {
              const { result: fused, kernels } = await profiled(() => c.explicit());
              for (const k of c.kernels) assert.ok(kernels.has(k), `${c.name}: fused kernel ${k} did not run`);
              const { result: oracle, kernels: taped } = await profiled(() => c.oracle());
              assert.ok(
                ![...taped].some((k) => k.startsWith("Memtrain")),
                `${c.name}: a fused kernel ran under tf.grads`,
              );
              const before = setFusedKernels(false);
              let stock: Record<string, tf.Tensor>;
              try {
                stock = c.explicit();
              } finally {
                setFusedKernels(before);
              }
              const [f, o, s] = [fused, oracle, stock].map((g) => {
                const a = arrays(g);
                tf.dispose(Object.values(g));
                return a;
              });
              assert.deepEqual(Object.keys(f).sort(), Object.keys(o).sort(), `${c.name}: gradient names`);
              const tol = c.name.startsWith("GPT") ? TOL_GPT : TOL_LAYER;
              for (const k of Object.keys(o)) {
                const eo = normRelError(f[k], o[k]), es = normRelError(f[k], s[k]);
                assert.ok(eo <= tol, `${c.name} d${k}: fused vs tf.grads norm-relative error ${eo.toExponential(2)}`);
                assert.ok(es <= tol, `${c.name} d${k}: fused vs stock norm-relative error ${es.toExponential(2)}`);
              }
            } finally {
              c.dispose();
            }
          }
        });
      } finally {
        setFusedSimd(simdBefore);
      }
    });
  }
}
