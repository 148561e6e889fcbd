import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { imageBatch, imageBatches } from "../../lib/data/image_batches.ts";
import { Rng } from "../../lib/data/rng.ts";
import { assertNoLeaks } from "../_util/assert_close.ts";
import { tinyDataset } from "./_tiny_dataset.ts";
import { testOnBackends } from "../_util/backends.ts";

const H = 4, W = 3;

testOnBackends("imageBatch() gathers the requested examples as float32 NHWC and int32 tensors", async () => {
  const ds = tinyDataset(6);
  await assertNoLeaks(() => {
    const { x, y } = imageBatch(ds, [4, 1]);
    assert.deepEqual(x.shape, [2, H, W, 1]);
    assert.equal(x.dtype, "float32");
    assert.equal(y.dtype, "int32");
    assert.deepEqual(Array.from(y.dataSync()), [4, 1]);
    const xs = x.dataSync();
    assert.equal(xs[0], 4);
    assert.equal(xs[H * W], 1);
    tf.dispose([x, y]);
  });
  assert.throws(() => imageBatch(ds, [6]), /indices must be integers in \[0, 6\): current value is 6/);
});

testOnBackends("imageBatches() covers every example once per epoch, shuffled by the rng", async () => {
  const ds = tinyDataset(10);
  await assertNoLeaks(() => {
    const seen: number[] = [], sizes: number[] = [];
    for (const { x, y } of imageBatches(ds, 4, { rng: new Rng(1) })) {
      sizes.push(x.shape[0]);
      seen.push(...y.dataSync());
      tf.dispose([x, y]);
    }
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
  const order = (seed: number) => {
    const out: number[] = [];
    for (const { x, y } of imageBatches(ds, 3, { rng: new Rng(seed) })) {
      out.push(...Array.from(x.dataSync()).filter((_, k) => k % (H * W) === 0));
      tf.dispose([x, y]);
    }
    return out;
  };
  assert.deepEqual(order(2), order(2));
  assert.notDeepEqual(order(2), order(3));
  assert.deepEqual([...order(2)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

testOnBackends("imageBatches() keeps dataset order without an rng and can drop the last batch", async () => {
  const ds = tinyDataset(10);
  await assertNoLeaks(() => {
    const firsts: number[] = [];
    for (const { x, y } of imageBatches(ds, 4, { dropLast: true })) {
      assert.equal(x.shape[0], 4);
      firsts.push(x.dataSync()[0]);
      tf.dispose([x, y]);
    }
    assert.deepEqual(firsts, [0, 4]);
  });
});

testOnBackends("imageBatches() creates tensors lazily, so stopping early leaks nothing", async () => {
  const ds = tinyDataset(10);
  await assertNoLeaks(() => {
    for (const { x, y } of imageBatches(ds, 2)) {
      tf.dispose([x, y]);
      break;
    }
  });
  assert.throws(() => imageBatches(ds, 0), /'batchSize' must be a positive integer: current value is 0/);
});
