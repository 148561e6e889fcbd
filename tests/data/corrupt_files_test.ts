import assert from "node:assert/strict";
import { CorruptDatasetError } from "../../lib/data/errors.ts";
import { loadFashionMnist } from "../../lib/data/fashion_mnist.ts";
import { encodeIdx, gzip, readIdxFile } from "../../lib/data/idx.ts";
import { Rng } from "../../lib/data/rng.ts";

const N = 6, H = 4, W = 3;
const PIXELS = Uint8Array.from({ length: N * H * W }, (_, k) => (k * 37) % 256);
const IMAGES = encodeIdx([N, H, W], PIXELS);
const LABELS = encodeIdx([N], Uint8Array.from({ length: N }, (_, i) => i % 10));

/** A Fashion-MNIST test split in a temp dir, with its images file replaced by `images` (gzipped as given). */
async function splitWith(images: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte.gz`, images);
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, await gzip(LABELS));
  return dir;
}

Deno.test("truncated gzip and IDX files: loadFashionMnist() throws CorruptDatasetError naming the file", async () => {
  const packed = await gzip(IMAGES);
  const cases: [string, Uint8Array][] = [
    ["gzip cut in half", packed.subarray(0, packed.length >> 1)],
    ["gzip without its 8-byte trailer", packed.subarray(0, packed.length - 8)],
    ["gzip one byte short", packed.subarray(0, packed.length - 1)],
    ["IDX data one byte short", await gzip(IMAGES.subarray(0, IMAGES.length - 1))],
    ["IDX header cut", await gzip(IMAGES.subarray(0, 9))],
    ["IDX with a trailing byte", await gzip(Uint8Array.of(...IMAGES, 0))],
  ];
  for (const [what, bytes] of cases) {
    const dir = await splitWith(bytes);
    try {
      const file = `${dir}/t10k-images-idx3-ubyte.gz`;
      await assert.rejects(loadFashionMnist({ split: "test", dir }), (e) => {
        assert.ok(e instanceof CorruptDatasetError, `${what}: ${e}`);
        assert.ok(e instanceof TypeError);
        assert.equal(e.path, file, what);
        assert.ok(e.message.startsWith(`Cannot read ${file}: `), `${what}: ${e.message}`);
        assert.ok(!e.message.includes("\n"), `${what}: one line`);
        return true;
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("bit-flipped gzip files (seeded, 300 flips) never load silently wrong data", async () => {
  const packed = await gzip(IMAGES);
  const rng = new Rng(14);
  const path = await Deno.makeTempFile({ suffix: ".gz" });
  let detected = 0, same = 0;
  try {
    for (let t = 0; t < 300; t++) {
      const bytes = packed.slice();
      const bit = Math.floor(rng.uniform() * bytes.length * 8);
      bytes[bit >> 3] ^= 1 << (bit & 7);
      await Deno.writeFile(path, bytes);
      try {
        const idx = await readIdxFile(path);
        // A flip in a gzip header field that holds no data (mtime, OS, unused flag bits) leaves the data intact.
        assert.deepEqual(idx.shape, [N, H, W], `flip of bit ${bit} gave another shape`);
        assert.deepEqual(idx.data, PIXELS, `flip of bit ${bit} gave other data without an error`);
        same++;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof CorruptDatasetError, `flip of bit ${bit}: ${e}`);
        detected++;
      }
    }
  } finally {
    await Deno.remove(path);
  }
  assert.ok(detected > 250, `most flips are detected (CRC-32, deflate structure): ${detected} of 300`);
  assert.equal(detected + same, 300);
});

Deno.test("a bit flip in a raw IDX header (shape) is detected as a length mismatch", async () => {
  const path = await Deno.makeTempFile();
  try {
    for (let bit = 32; bit < 16 * 8; bit++) { // the three uint32 dimensions
      const bytes = IMAGES.slice();
      bytes[bit >> 3] ^= 1 << (bit & 7);
      await Deno.writeFile(path, bytes);
      await assert.rejects(readIdxFile(path), { name: "CorruptDatasetError", message: /IDX: shape \[.*\] needs/ });
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("the experiment CLI prints a truncated dataset file as one error line, no stack, exit 1", async () => {
  const packed = await gzip(IMAGES);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/train-images-idx3-ubyte.gz`;
    await Deno.writeFile(file, packed.subarray(0, packed.length - 5));
    await Deno.writeFile(`${dir}/train-labels-idx1-ubyte.gz`, await gzip(LABELS));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "experiments/run.ts", "baseline", "--quick", "--models=vit", "--out", `${dir}/out`],
      env: { NO_COLOR: "1", MEMTRAIN_FASHION_MNIST_DIR: dir, MEMTRAIN_BACKEND: "cpu", MEMTRAIN_DEBUG: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").filter((l) => !l.startsWith("running "));
    assert.equal(out.code, 1);
    assert.deepEqual(err, [
      `error: Cannot read ${file}: gzip: the stream is corrupt or truncated: current length is ${packed.length - 5}`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
