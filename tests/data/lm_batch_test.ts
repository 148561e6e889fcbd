import assert from "node:assert/strict";
import { lmEvalBatches, sampleLmBatch } from "../../lib/data/lm_batch.ts";
import { Rng } from "../../lib/data/rng.ts";

const ramp = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

Deno.test("sampleLmBatch() returns contiguous windows with y = x shifted by one", () => {
  const tokens = ramp(50);
  const { x, y } = sampleLmBatch(tokens, 6, 7, new Rng(1));
  assert.equal(x.length, 42);
  assert.equal(y.length, 42);
  for (let b = 0; b < 6; b++) {
    const s = x[b * 7];
    assert.ok(s >= 0 && s <= 50 - 8, `start ${s}`);
    for (let t = 0; t < 7; t++) {
      assert.equal(x[b * 7 + t], s + t);
      assert.equal(y[b * 7 + t], s + t + 1);
    }
  }
});

Deno.test("sampleLmBatch() is deterministic for a seed and reaches every offset", () => {
  const tokens = ramp(20);
  assert.deepEqual(sampleLmBatch(tokens, 8, 4, new Rng(3)), sampleLmBatch(tokens, 8, 4, new Rng(3)));
  const starts = new Set<number>();
  const rng = new Rng(4);
  for (let i = 0; i < 100; i++) starts.add(sampleLmBatch(tokens, 4, 4, rng).x[0]);
  assert.deepEqual([...starts].sort((a, b) => a - b), Array.from(ramp(16))); // offsets 0..len-context-1
});

Deno.test("sampleLmBatch() works when context is one less than the token count", () => {
  const { x, y } = sampleLmBatch(ramp(5), 2, 4, new Rng(0));
  assert.deepEqual(x, Int32Array.of(0, 1, 2, 3, 0, 1, 2, 3));
  assert.deepEqual(y, Int32Array.of(1, 2, 3, 4, 1, 2, 3, 4));
});

Deno.test("sampleLmBatch() rejects a context that does not fit and invalid sizes", () => {
  const rng = new Rng(0);
  assert.throws(
    () => sampleLmBatch(ramp(8), 1, 8, rng),
    { name: "RangeError", message: /'context' must be less than the number of tokens \(8\): current value is 8/ },
  );
  assert.throws(() => sampleLmBatch(ramp(8), 0, 2, rng), /'batch' must be a positive integer: current value is 0/);
  assert.throws(() => sampleLmBatch(ramp(8), 1, 1.5, rng), RangeError);
  assert.throws(() => sampleLmBatch(new Int32Array(0), 1, 1, rng), RangeError);
});

Deno.test("lmEvalBatches() tiles the stream with non-overlapping windows in order", () => {
  const tokens = ramp(21);
  const batches = lmEvalBatches(tokens, 2, 4); // floor(20 / 4) = 5 windows -> rows 2, 2, 1
  assert.deepEqual(batches.map((b) => b.x.length), [8, 8, 4]);
  assert.deepEqual(Array.from(batches.flatMap((b) => Array.from(b.x))), Array.from(ramp(20)));
  for (const { x, y } of batches) {
    for (let i = 0; i < x.length; i++) assert.equal(y[i], x[i] + 1);
  }
});

Deno.test("lmEvalBatches() is deterministic and honours maxBatches", () => {
  const tokens = ramp(1000);
  assert.deepEqual(lmEvalBatches(tokens, 4, 10), lmEvalBatches(tokens, 4, 10));
  const limited = lmEvalBatches(tokens, 4, 10, 3);
  assert.equal(limited.length, 3);
  assert.deepEqual(limited[2].x.subarray(0, 3), Int32Array.of(80, 81, 82));
  assert.equal(lmEvalBatches(tokens, 4, 10).length, Math.ceil(99 / 4));
});

Deno.test("lmEvalBatches() drops only the tail shorter than one window", () => {
  const batches = lmEvalBatches(ramp(10), 8, 3); // windows at 0, 3, 6; token 9 is the last target
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0].y.subarray(6), Int32Array.of(7, 8, 9));
});

Deno.test("lmEvalBatches() validates its arguments", () => {
  assert.throws(() => lmEvalBatches(ramp(4), 1, 4), /'context' must be less than the number of tokens \(4\)/);
  assert.throws(() => lmEvalBatches(ramp(10), -1, 2), RangeError);
  assert.throws(() => lmEvalBatches(ramp(10), 1, 2, 0), /'maxBatches' must be a positive integer: current value is 0/);
});
