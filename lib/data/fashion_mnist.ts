/**
 * Fashion-MNIST (Xiao et al. 2017, https://arxiv.org/abs/1708.07747): 70,000 28x28 grey-scale images of 10 clothing
 * classes, read from the Debian package `dataset-fashion-mnist`. Batch them with `imageBatches()` (image_batches.ts).
 * @module
 */
import { DatasetNotFoundError } from "./errors.ts";
import { type IdxArray, readIdxFile } from "./idx.ts";

/** Where `apt-get install dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";
/** Mean pixel value of the Fashion-MNIST training images (after scaling to [0, 1]). */
export const FASHION_MNIST_MEAN = 0.2860;
/** Standard deviation of the Fashion-MNIST training pixels (after scaling to [0, 1]). */
export const FASHION_MNIST_STD = 0.3530;
/** Class names, indexed by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

const INSTALL = "sudo apt-get install dataset-fashion-mnist";

/** An in-memory image classification dataset, stored NHWC. */
export interface ImageDataset {
  /** Pixels as `[n, height, width, channels]`, row-major, scaled to [0, 1] (unless normalized). */
  images: Float32Array;
  /** Class index of each image, in [0, numClasses). */
  labels: Int32Array;
  /** Number of examples. */
  n: number;
  /** Image height in pixels (28). */
  height: number;
  /** Image width in pixels (28). */
  width: number;
  /** Channels per pixel. */
  channels: 1;
  /** Number of classes. */
  numClasses: 10;
  /** Class names, indexed by label. */
  classNames: string[];
}

/** Options for {@linkcode loadFashionMnist}. */
export interface LoadFashionMnistOptions {
  /** Which split: 60,000 training or 10,000 test images. */
  split: "train" | "test";
  /** Keep only the first `limit` examples. @default {undefined} (all) */
  limit?: number;
  /**
   * Directory holding the `*-ubyte.gz` (or uncompressed) files.
   * @default {the `MEMTRAIN_FASHION_MNIST_DIR` environment variable, else "/usr/share/datasets/fashion-mnist"}
   */
  dir?: string;
}

/** Where the directory came from: the `dir` option, the environment variable, or the default. */
type DirSource = "option" | "env" | "default";

const ENV_VAR = "MEMTRAIN_FASHION_MNIST_DIR";

/** What to do when `dir` from `source` is missing (undefined for the default directory: install the package). */
function hintFor(dir: string, source: DirSource): string | undefined {
  const files = "the IDX files (train-images-idx3-ubyte.gz, ...)";
  const fallback = `${FASHION_MNIST_DIR} (${INSTALL})`;
  if (source === "env") {
    return `${ENV_VAR}=${dir} points there: set ${ENV_VAR} to the directory holding ${files}, or unset it to use ` +
      fallback;
  }
  if (source === "option") {
    return `the 'dir' option names it: pass the directory holding ${files}, or leave 'dir' out to use ${
      envDir() ? `${ENV_VAR} (${envDir()})` : fallback
    }`;
  }
  return undefined;
}

async function readPart(dir: string, base: string, source: DirSource): Promise<IdxArray> {
  for (const path of [`${dir}/${base}.gz`, `${dir}/${base}`]) {
    try {
      return await readIdxFile(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  let dirExists = false;
  try {
    dirExists = (await Deno.stat(dir)).isDirectory;
  } catch {
    // missing directory: reported below
  }
  const missing = dirExists ? `${dir}/${base}.gz` : `the directory ${dir}`;
  throw new DatasetNotFoundError("Fashion-MNIST", missing, { install: INSTALL, hint: hintFor(dir, source) });
}

function envDir(): string | undefined {
  try {
    return Deno.env.get(ENV_VAR) || undefined;
  } catch {
    return undefined; // no --allow-env: use the default
  }
}

/**
 * Loads one split of Fashion-MNIST.
 *
 * @example Usage
 * ```ts
 * import { loadFashionMnist } from "./fashion_mnist.ts";
 * import assert from "node:assert/strict";
 *
 * const test = await loadFashionMnist({ split: "test", limit: 1000 }); // Debian's dataset-fashion-mnist
 * assert.equal(test.n, 1000);
 * assert.equal(test.classNames[test.labels[0]], "Ankle boot");
 * ```
 * @param options The split, an optional example limit and an optional directory.
 * @returns The images scaled to [0, 1] and their labels.
 * @throws {DatasetNotFoundError} if the directory or a file is missing.
 * @throws {RangeError} if `split` or `limit` is invalid.
 * @throws {TypeError} if a file is corrupt or the images and labels disagree.
 */
export async function loadFashionMnist(options: LoadFashionMnistOptions): Promise<ImageDataset> {
  const { split, limit } = options;
  const fromEnv = options.dir === undefined ? envDir() : undefined;
  const dir = options.dir ?? fromEnv ?? FASHION_MNIST_DIR;
  const source: DirSource = options.dir !== undefined ? "option" : fromEnv !== undefined ? "env" : "default";
  if (split !== "train" && split !== "test") {
    throw new RangeError(`Cannot load Fashion-MNIST: 'split' must be "train" or "test": current value is ${split}`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`Cannot load Fashion-MNIST: 'limit' must be a positive integer: current value is ${limit}`);
  }
  const prefix = split === "train" ? "train" : "t10k";
  const images = await readPart(dir, `${prefix}-images-idx3-ubyte`, source);
  const labels = await readPart(dir, `${prefix}-labels-idx1-ubyte`, source);
  if (images.shape.length !== 3) {
    throw new TypeError(`Cannot load Fashion-MNIST: images must be 3-D [n, h, w]: current shape is [${images.shape}]`);
  }
  if (labels.shape.length !== 1) {
    throw new TypeError(`Cannot load Fashion-MNIST: labels must be 1-D [n]: current shape is [${labels.shape}]`);
  }
  const [total, height, width] = images.shape;
  if (labels.shape[0] !== total) {
    throw new TypeError(
      `Cannot load Fashion-MNIST: ${total} images need ${total} labels: current value is ${labels.shape[0]}`,
    );
  }
  const n = Math.min(total, limit ?? total);
  const pixels = images.data.subarray(0, n * height * width);
  const scaled = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) scaled[i] = pixels[i] / 255;
  const ys = Int32Array.from(labels.data.subarray(0, n));
  for (let i = 0; i < n; i++) {
    if (ys[i] >= 10) {
      throw new TypeError(`Cannot load Fashion-MNIST: labels must be in [0, 10): current value is ${ys[i]} at ${i}`);
    }
  }
  return {
    images: scaled,
    labels: ys,
    n,
    height,
    width,
    channels: 1,
    numClasses: 10,
    classNames: [...FASHION_MNIST_CLASSES],
  };
}

/** Options for {@linkcode normalizeImages}. */
export interface NormalizeImagesOptions {
  /** Value subtracted from every pixel. @default {FASHION_MNIST_MEAN} */
  mean?: number;
  /** Value every centred pixel is divided by. @default {FASHION_MNIST_STD} */
  std?: number;
}

/**
 * Returns a copy of `ds` with pixels standardized as `(p - mean) / std`.
 *
 * @example Usage
 * ```ts
 * import { normalizeImages } from "./fashion_mnist.ts";
 * import assert from "node:assert/strict";
 *
 * const ds = { images: Float32Array.of(0, 1), labels: Int32Array.of(0), n: 1, height: 1, width: 2, channels: 1 as const, numClasses: 10 as const, classNames: ["a"] };
 * const z = normalizeImages(ds, { mean: 0.5, std: 0.5 }); // default: Fashion-MNIST's mean and std
 * assert.deepEqual(Array.from(z.images), [-1, 1]);
 * ```
 * @param ds The dataset (not modified).
 * @param options The mean and standard deviation.
 * @returns A new dataset sharing `labels` with `ds`.
 * @throws {RangeError} if `std` is not positive or `mean` is not finite.
 */
export function normalizeImages(ds: ImageDataset, options: NormalizeImagesOptions = {}): ImageDataset {
  const { mean = FASHION_MNIST_MEAN, std = FASHION_MNIST_STD } = options;
  if (!Number.isFinite(mean)) {
    throw new RangeError(`Cannot normalize images: 'mean' must be finite: current value is ${mean}`);
  }
  if (!(std > 0) || !Number.isFinite(std)) {
    throw new RangeError(`Cannot normalize images: 'std' must be a positive number: current value is ${std}`);
  }
  const images = new Float32Array(ds.images.length);
  for (let i = 0; i < images.length; i++) images[i] = (ds.images[i] - mean) / std;
  return { ...ds, images };
}
