/**
 * Every backend and every kernel implementation against the independent float64 references of
 * `tests/_util/reference.ts`, plus causality: logits at positions `<= t` do not depend on tokens after `t`.
 *
 * Tolerances are the largest error over elements divided by the largest |reference| value (`scaledMaxError`), set
 * to about 10x the worst case measured over wasm, cpu and blas and the three implementations (float32 rounding);
 * `MEMTRAIN_TEST_REPORT=1` prints the measured errors.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { createGpt, type Gpt } from "../../lib/models/mod.ts";
import { Context } from "../../lib/nn/context.ts";
import { SoftmaxCrossEntropy } from "../../lib/nn/cross_entropy.ts";
import { Gelu } from "../../lib/nn/gelu.ts";
import { LayerNorm } from "../../lib/nn/layernorm.ts";
import { SelfAttention } from "../../lib/nn/attention.ts";
import type { Params } from "../../lib/nn/params.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import { attentionProbs } from "../../lib/nn/_fused.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnImplementations } from "../_util/implementations.ts";
import {
  refAttention,
  refAttentionProbs,
  refCrossEntropy,
  refGelu,
  refGptLogits,
  refLayerNorm,
  refSoftmax,
  scaledMaxError,
  toRefParams,
} from "../_util/reference.ts";

/** Tolerances (scaled max error), each about 10x the worst case measured over every backend and implementation. */
const TOL = {
  /** GELU: measured worst 3.4e-8. */
  elementwise: 5e-7,
  /** Measured worst 1.3e-7. */
  layerNorm: 2e-6,
  /** A row with σ ≈ 8e-4 around 1: float32 rounding of x − μ alone is ~6e-8/8e-4; measured worst 1.9e-5. */
  layerNormIllConditioned: 2e-4,
  /** Attention probabilities: measured worst 1.1e-7. */
  softmax: 2e-6,
  /** Self-attention layer: measured worst 2.8e-7. */
  attention: 5e-6,
  /** Cross-entropy and the GPT loss: measured worst 1.5e-7. */
  loss: 2e-6,
  /** Whole-GPT logits: measured worst 3.3e-7. */
  logits: 5e-6,
};

/** Normal values from a seeded float64 generator (independent of tfjs's RNG). */
function normals(n: number, rng: Rng, mean = 0, std = 1): Float32Array {
  return Float32Array.from({ length: n }, () => mean + std * rng.normal());
}

function tensor(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(values, shape, "float32");
}

/** With `MEMTRAIN_TEST_REPORT=1` the measured errors are printed (how the tolerances above were chosen). */
const REPORT = Deno.env.get("MEMTRAIN_TEST_REPORT") === "1";

function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  const err = scaledMaxError(actual, expected);
  if (REPORT) console.log(`measured ${what}: ${err.toExponential(2)} (tol ${tol})`);
  assert.ok(err <= tol, `${what}: scaled max error ${err.toExponential(2)} > ${tol}`);
}

/** Runs a layer's training forward with a fresh context (keepAll) and frees what it saved. */
function forward(layer: { forward(x: tf.Tensor, ctx: Context): tf.Tensor }, x: tf.Tensor, params: Params) {
  const ctx = new Context({ params });
  try {
    const y = layer.forward(x, ctx);
    const out = Float64Array.from(y.dataSync());
    y.dispose();
    return out;
  } finally {
    ctx.store.dispose();
  }
}

/**
 * Parameters for `gpt` drawn so that every part of the forward matters: weights with std 1/√in (activations stay
 * O(1) and attention is far from uniform), LayerNorm gains around 1 and biases around 0 with a spread.
 */
function strongParams(gpt: Gpt, seed: number): Params {
  const rng = new Rng(seed);
  const out: Params = {};
  for (const [name, p] of Object.entries(gpt.params)) {
    const n = p.size;
    let values: Float32Array;
    if (name.endsWith(".g")) values = normals(n, rng, 1, 0.2);
    else if (name.endsWith(".b")) values = normals(n, rng, 0, 0.1);
    else if (name.endsWith("wte")) values = normals(n, rng);
    else if (name.endsWith("wpe")) values = normals(n, rng, 0, 0.5);
    else values = normals(n, rng, 0, 1 / Math.sqrt(p.shape[0]));
    out[name] = tensor(values, p.shape);
  }
  return out;
}

const GPT = { vocab: 13, context: 8, dim: 16, layers: 2, heads: 4, mlpRatio: 4 };

/** A GPT with {@linkcode strongParams}; the caller disposes `params`. */
function strongGpt(seed: number): Gpt {
  const gpt = createGpt(GPT, { seed });
  const params = strongParams(gpt, seed + 100);
  tf.dispose(Object.values(gpt.params));
  gpt.params = params;
  return gpt;
}

function logitsOf(gpt: Gpt, ids: Int32Array, b: number, t: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor2d(ids, [b, t], "int32");
    const ctx = new Context({ params: gpt.params });
    const y = new Sequence("", gpt.layers.slice()).forward(x, ctx);
    ctx.store.dispose();
    return Float32Array.from(y.dataSync());
  });
}

testOnImplementations("reference: GELU (tanh form) matches the float64 definition", async () => {
  await assertNoLeaks(() => {
    const rng = new Rng(1);
    for (const n of [96, 37]) { // a multiple of 4 (vector loops) and not (scalar tails)
      const xs = normals(n, rng, 0, 3);
      const x = tensor(xs, [n]);
      assertClose(`gelu n=${n}`, forward(new Gelu("gelu"), x, {}), Array.from(xs, refGelu), TOL.elementwise);
      x.dispose();
    }
  });
});

testOnImplementations("reference: LayerNorm matches the float64 definition (biased variance, eps 1e-5)", async () => {
  await assertNoLeaks(() => {
    const rng = new Rng(2);
    for (const d of [16, 10]) {
      const xs = normals(6 * d, rng, 0.7, 2), gs = normals(d, rng, 1, 0.3), bs = normals(d, rng, 0, 0.5);
      const x = tensor(xs, [2, 3, d]);
      const params = { "ln.g": tensor(gs, [d]), "ln.b": tensor(bs, [d]) };
      const layer = new Sequence("", [new LayerNorm("ln", d)]);
      assertClose(`layerNorm D=${d}`, forward(layer, x, params), refLayerNorm(xs, d, gs, bs), TOL.layerNorm);
      // A small-variance row: eps matters (a wrong eps would show here).
      const flat = tensor(Float32Array.from({ length: d }, (_, j) => 1 + 1e-3 * (j % 3)), [1, d]);
      const want = refLayerNorm(flat.dataSync(), d, gs, bs);
      assertClose(`layerNorm small variance D=${d}`, forward(layer, flat, params), want, TOL.layerNormIllConditioned);
      tf.dispose([x, flat, ...Object.values(params)]);
    }
  });
});

testOnImplementations("reference: attention softmax with and without the causal mask", async () => {
  await assertNoLeaks(() => {
    const rng = new Rng(3);
    for (const t of [8, 7]) {
      const s = normals(6 * t * t, rng, 0, 3);
      const scores = tensor(s, [6, t, t]);
      for (const causal of [true, false]) {
        const p = attentionProbs(scores, 0.35, causal);
        assertClose(`probs T=${t} causal=${causal}`, p.dataSync(), refAttentionProbs(s, t, 0.35, causal), TOL.softmax);
        p.dispose();
      }
      scores.dispose();
    }
    // refAttentionProbs without a mask is the plain softmax.
    const s = normals(4 * 9, rng);
    assertClose("plain softmax", refAttentionProbs(s, 3, 1, false), refSoftmax(s, 3), 1e-15);
  });
});

testOnImplementations("reference: causal and bidirectional self-attention match the float64 definition", async () => {
  await assertNoLeaks(() => {
    const rng = new Rng(4);
    const [b, t, d, heads] = [2, 8, 16, 4];
    for (const causal of [true, false]) {
      const layer = new Sequence("", [new SelfAttention("attn", d, heads, { causal })]);
      const xs = normals(b * t * d, rng);
      const w = {
        qkvW: normals(d * 3 * d, rng, 0, 1 / Math.sqrt(d)),
        qkvB: normals(3 * d, rng, 0, 0.1),
        projW: normals(d * d, rng, 0, 1 / Math.sqrt(d)),
        projB: normals(d, rng, 0, 0.1),
      };
      const params = {
        "attn.qkv.w": tensor(w.qkvW, [d, 3 * d]),
        "attn.qkv.b": tensor(w.qkvB, [3 * d]),
        "attn.proj.w": tensor(w.projW, [d, d]),
        "attn.proj.b": tensor(w.projB, [d]),
      };
      const x = tensor(xs, [b, t, d]);
      const want = refAttention(xs, b, t, d, heads, w, causal);
      assertClose(`attention causal=${causal}`, forward(layer, x, params), want, TOL.attention);
      tf.dispose([x, ...Object.values(params)]);
    }
  });
});

testOnImplementations(
  "reference: softmax cross-entropy (plain and weighted) matches the float64 definition",
  async () => {
    await assertNoLeaks(() => {
      const rng = new Rng(5);
      const [n, c] = [12, 9];
      const zs = normals(n * c, rng, 0, 4);
      zs[3 * c + 2] = 90; // a row whose target (below) has probability ~e^-90: the exact-log path
      const ys = Int32Array.from({ length: n }, (_, i) => (i * 5) % c);
      const ws = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 0.5 + i / n));
      const z = tensor(zs, [3, 4, c]), y = tf.tensor2d(ys, [3, 4], "int32"), w = tf.tensor2d(ws, [3, 4]);
      const loss = new SoftmaxCrossEntropy();
      for (const weighted of [false, true]) {
        const ctx = new Context({ params: {} });
        const l = loss.forward(z, y, ctx.child("loss"), weighted ? w : undefined);
        const want = refCrossEntropy(zs, c, ys, weighted ? ws : undefined);
        assertClose(`cross-entropy weighted=${weighted}`, l.dataSync(), [want], TOL.loss);
        l.dispose();
        ctx.store.dispose();
      }
      tf.dispose([z, y, w]);
    });
  },
);

testOnImplementations("reference: a whole tiny GPT forward (logits and loss) matches the float64 model", async () => {
  const gpt = strongGpt(7);
  await assertNoLeaks(() => {
    const [b, t] = [3, 8];
    const rng = new Rng(8);
    const ids = Int32Array.from({ length: b * t }, () => rng.int(GPT.vocab));
    const targets = Int32Array.from({ length: b * t }, () => rng.int(GPT.vocab));
    const want = refGptLogits(toRefParams(gpt.params), GPT, ids, b, t);
    assertClose("GPT logits", logitsOf(gpt, ids, b, t), want, TOL.logits);
    const loss = tf.tidy(() => {
      const x = tf.tensor2d(ids, [b, t], "int32"), y = tf.tensor2d(targets, [b, t], "int32");
      const ctx = new Context({ params: gpt.params });
      const logits = new Sequence("", gpt.layers.slice()).forward(x, ctx);
      const l = gpt.loss.forward(logits, y, ctx.child("loss")).dataSync()[0];
      ctx.store.dispose();
      return l;
    });
    assertClose("GPT loss", [loss], [refCrossEntropy(want, GPT.vocab, targets)], TOL.loss);
  });
  tf.dispose(Object.values(gpt.params));
});

testOnImplementations("causality: changing tokens after position t leaves the logits up to t unchanged", async () => {
  const gpt = strongGpt(9);
  await assertNoLeaks(() => {
    const [b, t, v] = [2, 8, GPT.vocab];
    const rng = new Rng(10);
    const ids = Int32Array.from({ length: b * t }, () => rng.int(v));
    const base = logitsOf(gpt, ids, b, t);
    for (const cut of [0, 3, 6]) {
      const changed = ids.slice();
      for (let r = 0; r < b; r++) for (let i = cut + 1; i < t; i++) changed[r * t + i] = (ids[r * t + i] + 1 + i) % v;
      const other = logitsOf(gpt, changed, b, t);
      let laterDiffers = false;
      for (let r = 0; r < b; r++) {
        for (let i = 0; i < t; i++) {
          for (let c = 0; c < v; c++) {
            const k = (r * t + i) * v + c;
            if (i <= cut) {
              assert.ok(
                Object.is(base[k], other[k]),
                `row ${r} position ${i} (<= ${cut}) logit ${c} changed: ${base[k]} -> ${other[k]}`,
              );
            } else if (base[k] !== other[k]) laterDiffers = true;
          }
        }
      }
      assert.ok(laterDiffers, `the change after position ${cut} must change later logits (else the test is vacuous)`);
    }
  });
  tf.dispose(Object.values(gpt.params));
});
