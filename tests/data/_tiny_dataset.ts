/**
 * A tiny in-memory image dataset for the data tests.
 * @module
 */
import type { ImageDataset } from "../../lib/data/fashion_mnist.ts";

/** `n` images of `h×w`: image `i` has every pixel equal to `i`; label `i % 10`. */
export function tinyDataset(n: number, h = 4, w = 3): ImageDataset {
  return {
    images: Float32Array.from({ length: n * h * w }, (_, k) => Math.floor(k / (h * w))),
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    n,
    height: h,
    width: w,
    channels: 1,
    numClasses: 10,
    classNames: [],
  };
}
