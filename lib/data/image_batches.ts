/**
 * Minibatches of an in-memory {@linkcode ImageDataset} as tfjs tensors.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ImageDataset } from "./fashion_mnist.ts";
import type { Rng } from "./rng.ts";

/** One minibatch of images and labels; the caller disposes both tensors. */
export interface ImageBatch {
  /** Images, `[batch, height, width, channels]` float32. */
  x: tf.Tensor4D;
  /** Labels, `[batch]` int32. */
  y: tf.Tensor1D;
}

/**
 * Gathers the examples at `indices` into tensors.
 *
 * @example Usage
 * ```ts
 * import { imageBatch } from "./image_batches.ts";
 * import assert from "node:assert/strict";
 *
 * const ds = { images: new Float32Array(4 * 4), labels: Int32Array.of(0, 1, 0, 1), n: 4, height: 2, width: 2, channels: 1 as const, numClasses: 10 as const, classNames: ["a", "b"] };
 * const { x, y } = imageBatch(ds, [0, 1, 2]);
 * assert.deepEqual([x.shape, Array.from(y.dataSync())], [[3, 2, 2, 1], [0, 1, 0]]);
 * x.dispose();
 * y.dispose();
 * ```
 * @param ds The dataset.
 * @param indices Example indices, each an integer in [0, ds.n).
 * @returns New tensors the caller must dispose.
 * @throws {RangeError} if an index is out of range.
 */
export function imageBatch(ds: ImageDataset, indices: ArrayLike<number>): ImageBatch {
  const size = ds.height * ds.width * ds.channels;
  const xs = new Float32Array(indices.length * size);
  const ys = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new RangeError(
        `Cannot gather image batch: indices must be integers in [0, ${ds.n}): current value is ${i}`,
      );
    }
    xs.set(ds.images.subarray(i * size, (i + 1) * size), b * size);
    ys[b] = ds.labels[i];
  }
  return {
    x: tf.tensor4d(xs, [indices.length, ds.height, ds.width, ds.channels], "float32"),
    y: tf.tensor1d(ys, "int32"),
  };
}

/** Options for {@linkcode imageBatches}. */
export interface ImageBatchesOptions {
  /** Shuffles the epoch with this generator; without one, examples come in dataset order. @default {undefined} */
  rng?: Rng;
  /** Skip the final batch when it would be smaller than `batchSize`. @default {false} */
  dropLast?: boolean;
}

/**
 * Iterates one epoch of minibatches. Tensors are created lazily, one batch per step, and the caller disposes them;
 * stopping early leaks nothing.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imageBatches } from "./image_batches.ts";
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const train = { images: new Float32Array(10 * 4), labels: new Int32Array(10), n: 10, height: 2, width: 2, channels: 1 as const, numClasses: 10 as const, classNames: ["a"] };
 * const sizes: number[] = [];
 * for (const { x, y } of imageBatches(train, 4, { rng: new Rng(0).fork("epoch-0") })) {
 *   sizes.push(x.shape[0]); // ... train on x, y ...
 *   tf.dispose([x, y]);
 * }
 * assert.deepEqual(sizes, [4, 4, 2]);
 * ```
 * @param ds The dataset.
 * @param batchSize Examples per batch, a positive integer.
 * @param options Shuffling and last-batch handling.
 * @returns An iterator over `{ x, y }` batches.
 * @throws {RangeError} if `batchSize` is not a positive integer.
 */
export function imageBatches(
  ds: ImageDataset,
  batchSize: number,
  options: ImageBatchesOptions = {},
): IterableIterator<ImageBatch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot iterate image batches: 'batchSize' must be a positive integer: current value is ${batchSize}`,
    );
  }
  const order = options.rng ? options.rng.permutation(ds.n) : Int32Array.from({ length: ds.n }, (_, i) => i);
  const end = options.dropLast ? ds.n - (ds.n % batchSize) : ds.n;
  return (function* () {
    for (let start = 0; start < end; start += batchSize) {
      yield imageBatch(ds, order.subarray(start, Math.min(start + batchSize, end)));
    }
  })();
}
