import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedActive, setFusedKernels, setFusedSimd } from "../../../lib/backend/mod.ts";
import { causalMaskValues, MASKED } from "../../../lib/nn/kernels/causal_mask.ts";
import { softmaxSimd } from "../../../lib/nn/kernels/softmax_simd.ts";
import { attentionProbs } from "../../../lib/nn/_fused.ts";
import { assertNoLeaks, maxRelError } from "../../_util/assert_close.ts";
import { testOnBackends } from "../../_util/backends.ts";

/** The independent oracle: written from the spec (bottom-right alignment), not from causal_mask.ts. */
function sees(i: number, j: number, tq: number, tk: number): boolean {
  return j - i <= tk - tq; // query i is position i + (tk - tq) of the key sequence
}

/** `softmax(x·scale + mask)` per row in float64, from the oracle mask (masked entries exactly 0). */
function oracleProbs(x: Float32Array, shape: number[], scale: number, causal: boolean): Float64Array {
  const tk = shape[shape.length - 1], tq = shape[shape.length - 2];
  const out = new Float64Array(x.length);
  for (let o = 0, row = 0; o < x.length; o += tk, row++) {
    const i = row % tq;
    let max = -Infinity;
    for (let j = 0; j < tk; j++) if (!causal || sees(i, j, tq, tk)) max = Math.max(max, x[o + j] * scale);
    let sum = 0;
    for (let j = 0; j < tk; j++) {
      const e = !causal || sees(i, j, tq, tk) ? Math.exp(x[o + j] * scale - max) : 0;
      out[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < tk; j++) out[o + j] /= sum;
  }
  return out;
}

/** [Tq, Tk] pairs: square (today's mask), non-square with Tk a multiple of 4 (SIMD rows) and not (JS rows). */
const SHAPES: [number, number][] = [[8, 8], [7, 7], [1, 1], [3, 8], [5, 12], [1, 8], [2, 5], [4, 9], [6, 7]];

Deno.test("causal mask: the definition matches the independent oracle, square and non-square", () => {
  for (const [tq, tk] of SHAPES) {
    const m = causalMaskValues(tq, tk);
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j < tk; j++) {
        assert.equal(m[i * tk + j], sees(i, j, tq, tk) ? 0 : MASKED, `[${tq}, ${tk}] at (${i}, ${j})`);
      }
    }
  }
  // the last query row sees every key; the first sees the first tk - tq + 1
  assert.deepEqual(Array.from(causalMaskValues(2, 3)), [0, 0, MASKED, 0, 0, 0]);
  assert.throws(() => causalMaskValues(4, 3), { name: "RangeError", message: /1 <= Tq <= Tk: current Tq 4, Tk 3/ });
});

Deno.test("causal mask: the SIMD scaleMask writes the definition's mask bit-for-bit", () => {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const sk = softmaxSimd({ wasm: { HEAPU8: new Uint8Array(memory.buffer), asm: { memory } } });
  assert.ok(sk, "this engine compiles WebAssembly SIMD");
  for (const [tq, tk] of SHAPES.filter(([, tk]) => tk % 4 === 0)) {
    const batch = 3, n = batch * tq * tk, scale = 0.37;
    const heap = new Float32Array(memory.buffer);
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 4);
    heap.set(x, 0);
    for (const causal of [1, 0]) {
      sk.scaleMask(0, 4 * n, batch * tq, tq, tk / 4, scale, causal);
      const z = new Float32Array(memory.buffer, 4 * n, n);
      const mask = causalMaskValues(tq, tk);
      for (let k = 0; k < n; k++) {
        const e = Math.fround(Math.fround(x[k] * Math.fround(scale)) + (causal ? mask[k % (tq * tk)] : 0));
        assert.ok(Object.is(z[k], e), `[${batch}, ${tq}, ${tk}] causal=${causal} at ${k}: ${z[k]} vs ${e}`);
      }
    }
  }
});

for (const simd of [true, false]) {
  testOnBackends(
    `causal mask: attentionProbs on [.., Tq, Tk] equals the oracle (${simd ? "SIMD" : "JS"})`,
    async (b) => {
      const before = setFusedSimd(simd);
      try {
        await assertNoLeaks(() => {
          for (const fused of [true, false]) {
            const prev = setFusedKernels(fused);
            try {
              assert.equal(fusedActive("nn"), fused && b !== "cpu");
              for (const [tq, tk] of SHAPES) {
                const shape = [2, 3, tq, tk];
                const x = tf.randomNormal(shape, 0, 3, "float32", tq * 31 + tk);
                for (const causal of [true, false]) {
                  const p = attentionProbs(x, 0.35, causal);
                  const want = oracleProbs(x.dataSync() as Float32Array, shape, 0.35, causal);
                  const got = p.dataSync();
                  const err = maxRelError(got, want);
                  const what = `${fused ? "fused" : "stock"} [${shape}] causal=${causal}`;
                  assert.ok(err <= 1e-6, `${what}: max relative error ${err.toExponential(2)}`);
                  if (causal) { // masked entries are exactly 0
                    got.forEach((v, k) => {
                      const i = Math.floor(k / tk) % tq, j = k % tk;
                      if (!sees(i, j, tq, tk)) assert.equal(v, 0, `${what}: (${i}, ${j}) must be masked`);
                    });
                  }
                  p.dispose();
                }
                const tall = tf.zeros([tk + 1, tk]); // Tq > Tk: a query row would see no key
                assert.throws(() => attentionProbs(tall, 1, true), { name: "RangeError", message: /1 <= Tq <= Tk/ });
                tf.dispose([x, tall]);
              }
            } finally {
              setFusedKernels(prev);
            }
          }
        });
      } finally {
        setFusedSimd(before);
      }
    },
  );
}
