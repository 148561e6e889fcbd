import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { setMesaSplit } from "../../lib/backend/mod.ts";
import { dequantize, type Grouping, groupLayout, groupMinMax, quantizeBytes } from "../../lib/mesa/quantize.ts";
import { mixSeed } from "../../lib/mesa/noise_hash.ts";
import { mesaSimd } from "../../lib/mesa/simd.ts";
import {
  closeMesaSplitter,
  mesaSplitter,
  type QuantizeJob,
  quantizeRange,
  rangePieces,
  SPLIT_MIN_ELEMENTS,
} from "../../lib/mesa/split.ts";
import { testOnImplementations } from "../_util/implementations.ts";

const LAYOUTS: [number, number, number][] = [[3, 4, 7], [1, 1, 1001], [5, 3, 1], [2, 6, 33], [7, 1, 5]];

Deno.test("mesa split: rangePieces tiles any range with layouts that start on their own group", () => {
  for (const [pre, groups, rest] of LAYOUTS) {
    const n = pre * groups * rest;
    for (let e0 = 0; e0 <= n; e0 += Math.max(1, Math.floor(n / 17))) {
      for (const e1 of [e0, e0 + 1, Math.floor((e0 + n) / 2), n - 1, n]) {
        if (e1 < e0 || e1 > n) continue;
        let e = e0;
        for (const p of rangePieces(pre, groups, rest, e0, e1)) {
          assert.equal(p.e, e, `[${pre},${groups},${rest}] ${e0}..${e1}: pieces are contiguous`);
          assert.equal(p.g0, Math.floor(e / rest) % groups, "a piece starts in its first element's group");
          assert.ok(p.g0 + p.groups <= groups, "a piece stays within one row of groups");
          if (p.pre > 1 || p.groups > 1) assert.equal(p.e % rest, 0, "whole blocks start on a block");
          assert.ok(p.pre * p.groups * p.rest > 0, "no empty piece");
          e += p.pre * p.groups * p.rest;
        }
        assert.equal(e, e1, `[${pre},${groups},${rest}] ${e0}..${e1}: pieces end at the range's end`);
      }
    }
  }
});

Deno.test("mesa split: codes quantized in two ranges at any cut equal one whole-tensor call bitwise", () => {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const sk = mesaSimd({ wasm: { HEAPU8: new Uint8Array(memory.buffer), asm: { memory } } });
  assert.ok(sk, "this engine compiles WebAssembly SIMD");
  const heap = new Uint8Array(memory.buffer), f = new Float32Array(memory.buffer);
  for (const [pre, groups, rest] of LAYOUTS) {
    const n = pre * groups * rest, G = groups;
    const job: QuantizeJob = {
      x: 0,
      alpha: 4 * n,
      beta: 4 * n + 4 * G,
      c: 4 * n + 8 * G,
      pre,
      groups,
      rest,
      key: 0,
      nearest: 0,
    };
    for (let i = 0; i < n; i++) f[i] = Math.sin(i * 12.9898) * 3; // some values clamp at both ends
    for (let g = 0; g < G; g++) {
      f[n + g] = 4 + g; // alpha
      f[n + G + g] = -2 - 0.25 * g; // beta
    }
    for (const nearest of [0, 1]) {
      for (const seed of [0, 7, -123456789]) {
        const q = { ...job, key: mixSeed(seed, 0), nearest };
        quantizeRange(sk, q, 0, n);
        const whole = heap.slice(q.c, q.c + n);
        for (let cut = 0; cut <= n; cut += Math.max(1, Math.floor(n / 13))) {
          for (const at of [cut, Math.min(n, cut + 1)]) {
            heap.fill(0xee, q.c, q.c + n);
            quantizeRange(sk, q, at, n);
            quantizeRange(sk, q, 0, at);
            const got = heap.subarray(q.c, q.c + n);
            const bad = got.findIndex((v, i) => v !== whole[i]);
            assert.equal(bad, -1, `[${pre},${groups},${rest}] seed ${seed} nearest ${nearest} cut ${at}: code ${bad}`);
          }
        }
      }
    }
  }
});

const SPLIT_CASES: { shape: number[]; axis?: number; grouping: Grouping }[] = [
  { shape: [3, 4, 5477], axis: 1, grouping: "head-wise" }, // [3, 4, 5477]: odd rest
  { shape: [70001], grouping: "per-tensor" }, // one block, cut inside it
  { shape: [1031, 68], axis: 1, grouping: "head-wise" }, // [1031, 4, 17]: many small blocks
  { shape: [2, 3, 11, 1009], axis: 1, grouping: { groups: 3 } },
];

function valuesOf(impl: () => tf.Tensor[]): number[][] {
  const out = impl();
  const arrays = out.map((t) => Array.from(t.dataSync() as ArrayLike<number>));
  tf.dispose(out);
  return arrays;
}

testOnImplementations(
  "mesa split: with the worker, codes and dequantized values equal the one-thread kernel",
  async () => {
    const splitter = mesaSplitter();
    assert.ok(await splitter.whenReady(), "the split worker starts");
    const before = tf.memory().numTensors;
    try {
      SPLIT_CASES.forEach(({ shape, axis, grouping }, k) => {
        const x = tf.tidy(() => tf.randomNormal(shape, 0, 1, "float32", 5 + k));
        assert.ok(x.size >= SPLIT_MIN_ELEMENTS, "large enough to be split");
        const layout = groupLayout(shape, axis, grouping);
        const { min, max } = groupMinMax(x, layout);
        const alpha = tf.tidy(() => tf.mul(tf.sub(max, min), 0.8)), beta = tf.tidy(() => tf.add(min, 0.1));
        for (const rounding of ["stochastic", "nearest"] as const) {
          const run = (split: boolean) => {
            const previous = setMesaSplit(split);
            try {
              return valuesOf(() => {
                const bytes = quantizeBytes(x, alpha, beta, layout, { rounding, seed: 11 });
                const codes = bytes.cast("int32"), xh = dequantize(bytes, alpha, beta, layout, shape);
                bytes.dispose();
                return [codes, xh];
              });
            } finally {
              setMesaSplit(previous);
            }
          };
          const jobs = splitter.jobs;
          const split = run(true);
          assert.equal(splitter.jobs, jobs + 1, `[${shape}]: the worker quantized a half`);
          const one = run(false);
          assert.equal(splitter.jobs, jobs + 1, "off, the worker is not used");
          for (const i of [0, 1]) {
            const bad = split[i].findIndex((v, j) => !Object.is(v, one[i][j]));
            assert.equal(bad, -1, `[${shape}] ${rounding} output ${i} at ${bad}: ${split[i][bad]} vs ${one[i][bad]}`);
          }
        }
        tf.dispose([x, min, max, alpha, beta]);
      });
      assert.equal(tf.memory().numTensors, before, "no leaked tensors");
    } finally {
      closeMesaSplitter();
    }
  },
  { impls: ["simd"], mesa: true },
);
