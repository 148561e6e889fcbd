import assert from "node:assert/strict";
import { DatasetNotFoundError } from "../../lib/data/errors.ts";
import { FASHION_MNIST_DIR, loadFashionMnist, normalizeImages } from "../../lib/data/fashion_mnist.ts";
import { encodeIdx, gzip } from "../../lib/data/idx.ts";
import { assertAllClose } from "../_util/assert_close.ts";
import { unlessSkipped } from "../_util/skip.ts";
import { tinyDataset } from "./_tiny_dataset.ts";

const H = 4, W = 3, N = 5;

interface FixtureOptions {
  n?: number;
  labelCount?: number;
  labels?: number[];
  gz?: boolean;
  split?: "train" | "t10k";
}

/** Writes a tiny fake Fashion-MNIST split (pixel value = (i * 7 + p) % 256) to a new temp dir. */
async function fixture(options: FixtureOptions = {}): Promise<string> {
  const { n = N, labelCount = n, gz = true, split = "t10k" } = options;
  const labels = options.labels ?? Array.from({ length: labelCount }, (_, i) => i % 10);
  const dir = await Deno.makeTempDir();
  const pixels = Uint8Array.from({ length: n * H * W }, (_, k) => (Math.floor(k / (H * W)) * 7 + (k % (H * W))) % 256);
  const write = async (name: string, bytes: Uint8Array) =>
    await Deno.writeFile(`${dir}/${name}${gz ? ".gz" : ""}`, gz ? await gzip(bytes) : bytes);
  await write(`${split}-images-idx3-ubyte`, encodeIdx([n, H, W], pixels));
  await write(`${split}-labels-idx1-ubyte`, encodeIdx([labels.length], Uint8Array.from(labels)));
  return dir;
}

async function withFixture(options: FixtureOptions, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fixture(options);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

let installed = false;
try {
  installed = Deno.statSync(`${FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz`).isFile;
} catch {
  // not installed: the real-data tests are skipped
}

Deno.test("loadFashionMnist() reads gzipped IDX files and scales pixels to [0, 1]", async () => {
  await withFixture({}, async (dir) => {
    const ds = await loadFashionMnist({ split: "test", dir });
    assert.equal(ds.n, N);
    assert.equal(ds.height, H);
    assert.equal(ds.width, W);
    assert.equal(ds.channels, 1);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.classNames[9], "Ankle boot");
    assert.equal(ds.images.length, N * H * W);
    assert.deepEqual(ds.labels, Int32Array.of(0, 1, 2, 3, 4));
    assertAllClose(ds.images.subarray(H * W, H * W + 3), [7 / 255, 8 / 255, 9 / 255]);
  });
});

Deno.test("loadFashionMnist() honours limit and reads uncompressed files", async () => {
  await withFixture({ gz: false, split: "train" }, async (dir) => {
    const ds = await loadFashionMnist({ split: "train", dir, limit: 2 });
    assert.equal(ds.n, 2);
    assert.equal(ds.images.length, 2 * H * W);
    assert.deepEqual(ds.labels, Int32Array.of(0, 1));
    assert.equal((await loadFashionMnist({ split: "train", dir, limit: 1000 })).n, N);
  });
});

Deno.test("loadFashionMnist() throws DatasetNotFoundError naming apt-get for a missing directory", async () => {
  const err = await loadFashionMnist({ split: "test", dir: "/nonexistent/fashion" }).catch((e) => e);
  assert.ok(err instanceof DatasetNotFoundError);
  assert.match(err.message, /the directory \/nonexistent\/fashion was not found/);
  assert.match(err.message, /sudo apt-get install dataset-fashion-mnist/);
});

Deno.test("loadFashionMnist() throws DatasetNotFoundError naming a missing file", async () => {
  await withFixture({ split: "t10k" }, async (dir) => {
    const err = await loadFashionMnist({ split: "train", dir }).catch((e) => e);
    assert.ok(err instanceof DatasetNotFoundError);
    assert.equal(err.missing, `${dir}/train-images-idx3-ubyte.gz`);
  });
});

Deno.test("loadFashionMnist() rejects image and label counts that disagree", async () => {
  await withFixture({ labelCount: N - 1 }, async (dir) => {
    await assert.rejects(loadFashionMnist({ split: "test", dir }), {
      name: "TypeError",
      message: /5 images need 5 labels: current value is 4/,
    });
  });
});

Deno.test("loadFashionMnist() rejects labels outside [0, 10)", async () => {
  await withFixture({ labels: [0, 1, 12, 3, 4] }, async (dir) => {
    await assert.rejects(loadFashionMnist({ split: "test", dir }), /labels must be in \[0, 10\): current value is 12/);
  });
});

Deno.test("loadFashionMnist() rejects images that are not 3-D", async () => {
  const dir = await fixture();
  try {
    await Deno.writeFile(
      `${dir}/t10k-images-idx3-ubyte.gz`,
      await gzip(encodeIdx([N * H * W], new Uint8Array(N * H * W))),
    );
    await assert.rejects(loadFashionMnist({ split: "test", dir }), { name: "TypeError", message: /must be 3-D/ });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadFashionMnist() validates split and limit before reading", async () => {
  await assert.rejects(loadFashionMnist({ split: "val" as "test" }), RangeError);
  await assert.rejects(
    loadFashionMnist({ split: "test", limit: 0 }),
    /'limit' must be a positive integer: current value is 0/,
  );
  await assert.rejects(loadFashionMnist({ split: "test", limit: 2.5 }), RangeError);
});

Deno.test({
  ...unlessSkipped(
    "loadFashionMnist() loads the installed test split (10,000 balanced images)",
    installed ? undefined : "Fashion-MNIST is not installed (apt package dataset-fashion-mnist)",
  ),
  fn: async () => {
    const ds = await loadFashionMnist({ split: "test" });
    assert.equal(ds.n, 10_000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.images.length, 10_000 * 784);
    assert.equal(ds.classNames[ds.labels[0]], "Ankle boot");
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    let min = Infinity, max = -Infinity;
    for (const p of ds.images) [min, max] = [Math.min(min, p), Math.max(max, p)];
    assert.deepEqual([min, max], [0, 1]);
  },
});

Deno.test({
  ...unlessSkipped(
    "loadFashionMnist() loads a limited slice of the installed train split",
    installed ? undefined : "Fashion-MNIST is not installed (apt package dataset-fashion-mnist)",
  ),
  fn: async () => {
    const ds = await loadFashionMnist({ split: "train", limit: 100 });
    assert.equal(ds.n, 100);
    assert.equal(ds.labels.length, 100);
    assert.equal(ds.images.length, 100 * 784);
  },
});

Deno.test("normalizeImages() standardizes a copy and leaves the input untouched", () => {
  const ds = tinyDataset(3);
  const norm = normalizeImages(ds, { mean: 1, std: 2 });
  assertAllClose(norm.images.subarray(0, 1), [-0.5]);
  assertAllClose(norm.images.subarray(2 * H * W, 2 * H * W + 1), [0.5]);
  assert.equal(ds.images[0], 0);
  assert.equal(norm.labels, ds.labels);
  assertAllClose(normalizeImages(ds).images.subarray(0, 1), [-0.2860 / 0.3530]);
  assert.throws(() => normalizeImages(ds, { std: 0 }), /'std' must be a positive number: current value is 0/);
  assert.throws(() => normalizeImages(ds, { mean: NaN }), RangeError);
});

Deno.test("loadFashionMnist(): a missing directory from MEMTRAIN_FASHION_MNIST_DIR names the variable, not apt-get", async () => {
  const before = Deno.env.get("MEMTRAIN_FASHION_MNIST_DIR");
  Deno.env.set("MEMTRAIN_FASHION_MNIST_DIR", "/nonexistent/from-env");
  try {
    const err = await loadFashionMnist({ split: "test" }).catch((e) => e);
    assert.ok(err instanceof DatasetNotFoundError);
    assert.equal(
      err.message,
      "Cannot load Fashion-MNIST: the directory /nonexistent/from-env was not found; " +
        "MEMTRAIN_FASHION_MNIST_DIR=/nonexistent/from-env points there: set MEMTRAIN_FASHION_MNIST_DIR to the " +
        "directory holding the IDX files (train-images-idx3-ubyte.gz, ...), or unset it to use " +
        "/usr/share/datasets/fashion-mnist (sudo apt-get install dataset-fashion-mnist)",
    );
    assert.ok(
      !err.message.includes("install it with"),
      "it does not tell the user to install what they pointed away from",
    );
    await withFixture({ split: "t10k" }, async (dir) => {
      Deno.env.set("MEMTRAIN_FASHION_MNIST_DIR", dir);
      const missing = await loadFashionMnist({ split: "train" }).catch((e) => e);
      assert.match(
        missing.message,
        new RegExp(`train-images-idx3-ubyte\\.gz was not found; MEMTRAIN_FASHION_MNIST_DIR=`),
      );
    });
  } finally {
    if (before === undefined) Deno.env.delete("MEMTRAIN_FASHION_MNIST_DIR");
    else Deno.env.set("MEMTRAIN_FASHION_MNIST_DIR", before);
  }
});
