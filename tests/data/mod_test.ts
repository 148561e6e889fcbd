import assert from "node:assert/strict";
import * as data from "../../lib/data/mod.ts";

Deno.test("lib/data/mod.ts re-exports the public data API", () => {
  const expected = [
    "BPE_ENCODINGS",
    "DatasetNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "Rng",
    "bpeCorpusFromText",
    "charCorpusFromText",
    "copyTask",
    "countTask",
    "encodeIdx",
    "encodeNames",
    "gunzip",
    "gzip",
    "CorruptDatasetError",
    "imageBatch",
    "imageBatches",
    "isGzip",
    "lmEvalBatches",
    "loadBpeCorpus",
    "loadBpeTokenizer",
    "loadCharCorpus",
    "loadCorpusText",
    "loadFashionMnist",
    "loadNameGender",
    "normalizeImages",
    "parseIdx",
    "readIdxFile",
    "sampleLmBatch",
  ];
  assert.deepEqual(Object.keys(data).sort(), expected.sort());
});
