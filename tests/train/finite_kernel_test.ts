import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { firstNonFiniteIndex } from "../../lib/train/finite_kernel.ts";
import { firstNonFinite } from "../../lib/train/guard.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { testOnImplementations } from "../_util/implementations.ts";

/** Shapes of the float tensors: sizes with a tail after whole 16-float blocks, and one without (the middle one). */
const SHAPES = [[7, 5], [13], [4, 1, 8], [1], [33]];

/** The index of the first float32, non-empty tensor with a non-finite element, from the downloaded values. */
function reference(ts: readonly tf.Tensor[]): number {
  return ts.findIndex((t) => t.dtype === "float32" && (t.dataSync() as Float32Array).some((v) => !Number.isFinite(v)));
}

/** Random tensors, with `bad` (if given) at element `at` of tensor `where`. */
function make(seed: number, poison?: { where: number; at: number; bad: number }): tf.Tensor[] {
  return SHAPES.map((s, i) => {
    const v = tf.tidy(() => tf.randomNormal(s, 0, 1, "float32", seed + i).dataSync() as Float32Array);
    if (poison?.where === i) v[poison.at] = poison.bad;
    return tf.tensor(v, s);
  });
}

testOnImplementations(
  "firstNonFiniteIndex: NaN/±Inf at the first/middle/last element of the first/middle/last tensor",
  async () => {
    await assertNoLeaks(() => {
      let cases = 0;
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const where of [0, 2, SHAPES.length - 1]) {
          const size = SHAPES[where].reduce((a, b) => a * b, 1);
          for (const at of [0, size >> 1, size - 1]) {
            const ts = make(10 * cases, { where, at, bad });
            assert.equal(reference(ts), where);
            assert.equal(firstNonFiniteIndex(ts), where, `${bad} at ${at} of tensor ${where}`);
            tf.dispose(ts);
            cases++;
          }
        }
      }
      assert.equal(cases, 27);
    });
  },
);

testOnImplementations(
  "firstNonFiniteIndex: all finite gives -1, also when a plain sum overflows; the first bad wins",
  async () => {
    await assertNoLeaks(() => {
      const ts = make(3);
      assert.equal(firstNonFiniteIndex(ts), -1);
      const big = tf.fill([64], 3e38); // sums to +Infinity, every element finite
      assert.equal(firstNonFiniteIndex([big, ...ts]), -1);
      const two = [tf.tensor1d([1, NaN]), tf.tensor1d([Infinity])];
      assert.equal(firstNonFiniteIndex([...ts, ...two]), ts.length);
      assert.equal(firstNonFiniteIndex([...ts, two[1], two[0]]), ts.length);
      assert.equal(firstNonFiniteIndex([]), -1);
      tf.dispose([...ts, big, ...two]);
    });
  },
);

testOnImplementations(
  "firstNonFiniteIndex: empty and int tensors are skipped (an int with a NaN's bits is not a NaN)",
  async () => {
    await assertNoLeaks(() => {
      const nanBits = new Int32Array(new Float32Array([NaN, Infinity]).buffer); // 0x7fc00000, 0x7f800000
      const int = tf.tensor1d(nanBits, "int32"), empty = tf.zeros([0, 4]), ok = tf.ones([5]), bad = tf.tensor1d([NaN]);
      assert.equal(firstNonFiniteIndex([int, empty, ok]), -1);
      assert.equal(firstNonFiniteIndex([empty, int, ok, bad]), 3);
      assert.equal(firstNonFiniteIndex([empty]), -1);
      tf.dispose([int, empty, ok, bad]);
    });
  },
);

testOnImplementations("firstNonFinite names the first bad tensor in key order", async () => {
  await assertNoLeaks(() => {
    const t = { "a.w": tf.ones([3, 3]), "b.i": tf.zeros([2], "int32"), "c.w": tf.tensor1d([0, -Infinity]) };
    const u = { ...t, "d.w": tf.tensor1d([NaN]) };
    assert.equal(firstNonFinite(u), "c.w");
    assert.equal(firstNonFinite({ "a.w": t["a.w"], "d.w": u["d.w"], "c.w": t["c.w"] }), "d.w");
    assert.equal(firstNonFinite({ "a.w": t["a.w"], "b.i": t["b.i"] }), undefined);
    tf.dispose(Object.values(u));
  });
});
