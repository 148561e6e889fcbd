import assert from "node:assert/strict";
import { encodeIdx, gunzip, gzip, isGzip, parseIdx, readIdxFile } from "../../lib/data/idx.ts";

const PIXELS = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);

Deno.test("encodeIdx() writes the magic number, dtype, dims and data", () => {
  const bytes = encodeIdx([2], Uint8Array.of(9, 8));
  assert.deepEqual(bytes, Uint8Array.of(0, 0, 0x08, 1, 0, 0, 0, 2, 9, 8));
  const big = encodeIdx([70000], new Uint8Array(70000));
  assert.deepEqual(big.subarray(0, 8), Uint8Array.of(0, 0, 8, 1, 0, 1, 0x11, 0x70)); // big-endian 70000
});

Deno.test("parseIdx() round-trips encodeIdx()", () => {
  const idx = parseIdx(encodeIdx([2, 3, 4], PIXELS));
  assert.equal(idx.dtype, "uint8");
  assert.deepEqual(idx.shape, [2, 3, 4]);
  assert.deepEqual(idx.data, PIXELS);
});

Deno.test("parseIdx() works on a subarray view with a byte offset", () => {
  const file = encodeIdx([3], Uint8Array.of(1, 2, 3));
  const padded = new Uint8Array(file.length + 5);
  padded.set(file, 5);
  assert.deepEqual(parseIdx(padded.subarray(5)).data, Uint8Array.of(1, 2, 3));
});

Deno.test("gzip() and gunzip() round-trip IDX files", async () => {
  const packed = await gzip(encodeIdx([2, 3, 4], PIXELS));
  assert.ok(isGzip(packed));
  const idx = parseIdx(await gunzip(packed));
  assert.deepEqual(idx.shape, [2, 3, 4]);
  assert.deepEqual(idx.data, PIXELS);
});

Deno.test("parseIdx() rejects a bad magic number, with a hint for gzip data", async () => {
  const bad = encodeIdx([3], Uint8Array.of(1, 2, 3));
  bad[1] = 7;
  assert.throws(() => parseIdx(bad), /magic number must start with 00 00: current value is 00 07 08 01/);
  const packed = await gzip(encodeIdx([3], Uint8Array.of(1, 2, 3)));
  assert.throws(() => parseIdx(packed), /gzip-compressed: gunzip it first/);
});

Deno.test("parseIdx() rejects unsupported dtypes", () => {
  const f32 = encodeIdx([1], Uint8Array.of(0));
  f32[2] = 0x0d;
  assert.throws(() => parseIdx(f32), { name: "TypeError", message: /only dtype 0x08 .* current value is 0x0d/ });
});

Deno.test("parseIdx() rejects short, truncated or padded files", () => {
  assert.throws(() => parseIdx(Uint8Array.of(0, 0)), /shorter than its 4-byte magic number: current length is 2/);
  assert.throws(() => parseIdx(Uint8Array.of(0, 0, 8, 0)), /number of dimensions must be positive/);
  const file = encodeIdx([2, 3, 4], PIXELS);
  assert.throws(() => parseIdx(file.subarray(0, 10)), /header of a 3-D file needs 16 bytes: current length is 10/);
  assert.throws(() => parseIdx(file.subarray(0, file.length - 1)), /needs 24 data bytes: current value is 23/);
  const long = new Uint8Array(file.length + 1);
  long.set(file);
  assert.throws(() => parseIdx(long), TypeError);
});

Deno.test("gunzip() rejects corrupt and truncated gzip data with a TypeError", async () => {
  const packed = await gzip(encodeIdx([2, 3, 4], PIXELS));
  await assert.rejects(gunzip(packed.subarray(0, packed.length - 6)), {
    name: "TypeError",
    message: /corrupt or truncated/,
  });
  const flipped = packed.slice();
  flipped[3] = 0xff; // reserved flag bits
  await assert.rejects(gunzip(flipped), TypeError);
});

Deno.test("encodeIdx() rejects shapes that do not match the data", () => {
  assert.throws(() => encodeIdx([], new Uint8Array(1)), RangeError);
  assert.throws(() => encodeIdx([2, 2], new Uint8Array(3)), /needs 4 elements: current value is 3/);
  assert.throws(() => encodeIdx([1.5], new Uint8Array(1)), RangeError);
});

Deno.test("readIdxFile() reads raw and gzipped files and names the file on errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = encodeIdx([2, 3, 4], PIXELS);
    await Deno.writeFile(`${dir}/a.idx`, file);
    await Deno.writeFile(`${dir}/a.idx.gz`, await gzip(file));
    assert.deepEqual((await readIdxFile(`${dir}/a.idx`)).data, PIXELS);
    assert.deepEqual((await readIdxFile(`${dir}/a.idx.gz`)).shape, [2, 3, 4]);
    await Deno.writeFile(`${dir}/bad.gz`, (await gzip(file)).subarray(0, 20));
    await assert.rejects(readIdxFile(`${dir}/bad.gz`), (e) => e instanceof TypeError && /bad\.gz/.test(e.message));
    await assert.rejects(readIdxFile(`${dir}/bad.gz`), { name: "CorruptDatasetError", message: /bad\.gz/ });
    await assert.rejects(readIdxFile(`${dir}/missing`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
