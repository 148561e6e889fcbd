import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedActive, runFused } from "../../lib/backend/mod.ts";
import { MESA_KERNELS } from "../../lib/mesa/kernels.ts";
import { mesaPolicy } from "../../lib/mesa/policy.ts";
import {
  dequantize,
  type Grouping,
  groupLayout,
  groupMinMax,
  quantize,
  quantizeBytes,
  type Rounding,
} from "../../lib/mesa/quantize.ts";
import { packBytes } from "../../lib/mesa/storage.ts";
import { type Implementation, testOnImplementations, withImplementation } from "../_util/implementations.ts";

/** Runs `f` with the fused implementation `impl`, then the stock ops; returns both results' values. */
function bothWays(impl: Implementation, f: () => tf.Tensor[]): { fused: number[][]; stock: number[][] } {
  const run = (which: Implementation) =>
    withImplementation(which, () => {
      const out = f();
      const arrays = out.map((t) => Array.from(t.dataSync() as ArrayLike<number>));
      tf.dispose(out);
      return arrays;
    });
  return { fused: run(impl), stock: run("stock") };
}

function assertIdentical(impl: Implementation, name: string, f: () => tf.Tensor[]): void {
  const { fused, stock } = bothWays(impl, f);
  assert.equal(fused.length, stock.length);
  fused.forEach((a, i) => {
    assert.equal(a.length, stock[i].length, `${name}: output ${i} size`);
    const bad = a.findIndex((v, j) => !Object.is(v, stock[i][j]));
    assert.equal(bad, -1, `${name}: output ${i} differs at ${bad}: fused ${a[bad]}, stock ${stock[i][bad]}`);
  });
}

/** Values with some outside the range given to the quantizer (clamping) and a constant block. */
function input(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.randomNormal(shape, 0, 1, "float32", seed);
    const n = x.size;
    const v = x.dataSync().slice();
    for (let i = 0; i < Math.min(8, n); i++) v[i] = 1.5; // constant block at the start
    return tf.tensor(v, shape);
  });
}

const CASES: { shape: number[]; axis?: number; grouping: Grouping }[] = [
  { shape: [3, 4, 7, 5], axis: 1, grouping: "head-wise" },
  { shape: [37, 64], axis: 1, grouping: "head-wise" },
  { shape: [2, 6, 9], axis: 1, grouping: { groups: 3 } },
  { shape: [1001], grouping: "per-tensor" },
  { shape: [8, 16], axis: 1, grouping: "per-tensor" },
  { shape: [3, 2, 6], axis: 1, grouping: "head-wise" },
  { shape: [4, 4, 33, 8], axis: 1, grouping: "head-wise" },
];

testOnImplementations("mesa fused kernels: the min/max kernel gives per-group extremes, rejects a bad layout", () => {
  const x = tf.tensor2d([[0, 1, 10, 20], [2, 3, 30, 40]]);
  const [min, max] = runFused<tf.Tensor[]>(MESA_KERNELS.minMax, { x }, { pre: 2, groups: 2, rest: 2 });
  assert.deepEqual(Array.from(min.dataSync()), [0, 10]);
  assert.deepEqual(Array.from(max.dataSync()), [3, 40]);
  assert.throws(() => runFused(MESA_KERNELS.minMax, { x }, { pre: 2, groups: 3, rest: 2 }), /does not match/);
  tf.dispose([x, min, max]);
}, { impls: ["fused-js", "simd"], mesa: true });

testOnImplementations("mesa fused kernels: bit-identical to the op chain", (_backend, impl) => compareWithStock(impl), {
  impls: ["fused-js", "simd"],
  mesa: true,
});

function compareWithStock(impl: Implementation): void {
  const before = tf.memory().numTensors;
  CASES.forEach(({ shape, axis, grouping }, k) => {
    const x = input(shape, 11 + k);
    const layout = groupLayout(shape, axis, grouping);
    const name = `[${shape}] ${JSON.stringify(grouping)}`;
    assertIdentical(impl, `${name} min/max`, () => {
      const { min, max } = groupMinMax(x, layout);
      return [min, max];
    });
    // a range narrower than the data, so some values clamp at both ends
    const { min, max } = groupMinMax(x, layout);
    const alpha = tf.tidy(() => tf.mul(tf.sub(max, min), 0.8)), beta = tf.tidy(() => tf.add(min, 0.1));
    for (const rounding of ["stochastic", "nearest"] as Rounding[]) {
      for (const seed of [0, 7, -123456789]) {
        assertIdentical(impl, `${name} ${rounding} seed ${seed}`, () => {
          const bytes = quantizeBytes(x, alpha, beta, layout, { rounding, seed });
          assert.equal(bytes.dtype, "bool");
          assert.deepEqual(bytes.shape, shape);
          const codes = bytes.cast("int32");
          const xh = dequantize(bytes, alpha, beta, layout, [x.size]);
          bytes.dispose();
          return [codes, xh];
        });
        if (rounding === "nearest") break;
      }
    }
    // the fused bytes agree with packBytes(quantize(...)) as well
    const codes = tf.tidy(() => packBytes(quantize(x, alpha, beta, layout, { seed: 5 })).cast("int32"));
    const fromFused = tf.tidy(() => quantizeBytes(x, alpha, beta, layout, { seed: 5 }).cast("int32"));
    assert.deepEqual(Array.from(fromFused.dataSync()), Array.from(codes.dataSync()));
    tf.dispose([x, min, max, alpha, beta, codes, fromFused]);
  });
  assert.equal(tf.memory().numTensors, before, "no leaked tensors");
}

testOnImplementations("mesa fused kernels: policy pack/unpack identical with fused on and off", (_backend, impl) => {
  const info = { tag: "blocks.0.attn.q", role: "attn.q", groupAxis: 1 };
  const q = input([2, 4, 8, 16], 3);
  for (const grouping of ["per-tensor", "head-wise"] as Grouping[]) {
    assertIdentical(impl, `policy ${grouping}`, () => {
      const policy = mesaPolicy({ grouping, seed: 9 });
      const out: tf.Tensor[] = [];
      for (let step = 0; step < 3; step++) {
        const packed = policy.pack(q, info);
        out.push(packed.bytes.cast("int32"), policy.unpack(packed, info));
        policy.dispose(packed);
      }
      policy.state.dispose();
      return out;
    });
  }
  q.dispose();
}, { impls: ["fused-js", "simd"], mesa: true });

testOnImplementations("mesa fused kernels: stock ops under a gradient tape", () => {
  const x = tf.tensor1d([0, 1, 2, 3]);
  const g = tf.grad((v: tf.Tensor) => {
    assert.equal(fusedActive("mesa"), false);
    const { min, max } = groupMinMax(v, groupLayout(v.shape, undefined, "per-tensor"));
    return tf.add(min, max).sum();
  })(x);
  assert.equal(g.size, 4);
  tf.dispose([x, g]);
}, { impls: ["simd"], mesa: true });
