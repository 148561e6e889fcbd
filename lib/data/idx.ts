/**
 * IDX files (the MNIST / Fashion-MNIST container) and gzip helpers.
 *
 * An IDX file is: two zero bytes, a dtype byte, a byte giving the number of dimensions, one big-endian uint32 per
 * dimension, then the row-major data. Only dtype 0x08 (unsigned byte) is supported, which is all (Fashion-)MNIST uses.
 * @module
 */

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  /** Element type; only `"uint8"` (IDX dtype 0x08) is supported. */
  dtype: "uint8";
  /** Dimensions, outermost first, e.g. `[60000, 28, 28]`. */
  shape: number[];
  /** Row-major elements; `data.length` is the product of `shape`. */
  data: Uint8Array;
}

import { CorruptDatasetError } from "./errors.ts";

const UBYTE = 0x08;

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/**
 * Compresses bytes with gzip.
 *
 * @example Usage
 * ```ts
 * import { gunzip, gzip } from "./idx.ts";
 * import assert from "node:assert/strict";
 *
 * const packed = await gzip(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await gunzip(packed), new Uint8Array([1, 2, 3]));
 * ```
 * @param bytes The data to compress.
 * @returns The gzip stream's bytes.
 */
export function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return pipe(bytes, new CompressionStream("gzip"));
}

/**
 * Decompresses gzip bytes.
 *
 * @example Usage
 * ```ts
 * import { gunzip, gzip } from "./idx.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(await gunzip(await gzip(new Uint8Array([7]))), new Uint8Array([7]));
 * ```
 * @param bytes A complete gzip stream.
 * @returns The decompressed bytes.
 * @throws {TypeError} if `bytes` is not valid, complete gzip data.
 */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  try {
    return await pipe(bytes, new DecompressionStream("gzip"));
  } catch (cause) {
    throw new TypeError(
      `Cannot decompress gzip data: the stream is corrupt or truncated: current length is ${bytes.length}`,
      {
        cause,
      },
    );
  }
}

/** True if `bytes` starts with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an (uncompressed) IDX file of unsigned bytes.
 *
 * @example Usage
 * ```ts
 * import { encodeIdx, parseIdx } from "./idx.ts";
 * import assert from "node:assert/strict";
 *
 * const idx = parseIdx(encodeIdx([2, 3], new Uint8Array([1, 2, 3, 4, 5, 6])));
 * assert.deepEqual(idx.shape, [2, 3]);
 * assert.equal(idx.data[5], 6);
 * ```
 * @param bytes The file's bytes.
 * @returns The shape and a view (not a copy) of the data.
 * @throws {TypeError} if the magic number, dtype, header or data length is wrong.
 */
export function parseIdx(bytes: Uint8Array): IdxArray {
  if (bytes.length < 4) {
    throw new TypeError(
      `Cannot parse IDX: the file is shorter than its 4-byte magic number: current length is ${bytes.length}`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    const hint = isGzip(bytes) ? " (the data is gzip-compressed: gunzip it first)" : "";
    throw new TypeError(`Cannot parse IDX: the magic number must start with 00 00${hint}: current value is ${hex}`);
  }
  if (bytes[2] !== UBYTE) {
    throw new TypeError(
      `Cannot parse IDX: only dtype 0x08 (unsigned byte) is supported: current value is 0x${
        bytes[2].toString(16).padStart(2, "0")
      }`,
    );
  }
  const ndim = bytes[3];
  if (ndim === 0) {
    throw new TypeError(`Cannot parse IDX: the number of dimensions must be positive: current value is 0`);
  }
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    throw new TypeError(
      `Cannot parse IDX: the header of a ${ndim}-D file needs ${headerLength} bytes: current length is ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let size = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    size *= d;
  }
  const dataLength = bytes.length - headerLength;
  if (dataLength !== size) {
    throw new TypeError(
      `Cannot parse IDX: shape [${shape.join(", ")}] needs ${size} data bytes: current value is ${dataLength}`,
    );
  }
  return { dtype: "uint8", shape, data: bytes.subarray(headerLength) };
}

/**
 * Encodes an unsigned-byte array as an IDX file (the inverse of {@linkcode parseIdx}; handy for test fixtures).
 *
 * @example Usage
 * ```ts
 * import { encodeIdx } from "./idx.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(encodeIdx([2], new Uint8Array([9, 8])), new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 9, 8]));
 * ```
 * @param shape Dimensions (1 to 255 of them), each a non-negative integer below 2^32.
 * @param data Row-major elements; the length must equal the product of `shape`.
 * @returns The IDX bytes.
 * @throws {RangeError} if the shape is invalid or does not match `data.length`.
 */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  if (shape.length < 1 || shape.length > 255) {
    throw new RangeError(
      `Cannot encode IDX: the number of dimensions must be in [1, 255]: current value is ${shape.length}`,
    );
  }
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new RangeError(`Cannot encode IDX: dimensions must be integers in [0, 2^32): current value is ${d}`);
    }
    size *= d;
  }
  if (size !== data.length) {
    throw new RangeError(
      `Cannot encode IDX: shape [${shape.join(", ")}] needs ${size} elements: current value is ${data.length}`,
    );
  }
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  out[2] = UBYTE;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}

/**
 * Reads and parses an IDX file, gunzipping it first when it starts with the gzip magic number.
 *
 * @example Usage
 * ```ts
 * import { encodeIdx, gzip, readIdxFile } from "./idx.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".gz" });
 * await Deno.writeFile(path, await gzip(encodeIdx([4], Uint8Array.of(3, 1, 4, 1))));
 * const labels = await readIdxFile(path); // e.g. /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
 * assert.deepEqual(labels.shape, [4]);
 * await Deno.remove(path);
 * ```
 * @param path The file to read (`.gz` or raw).
 * @returns The parsed array.
 * @throws {Deno.errors.NotFound} if the file does not exist.
 * @throws {CorruptDatasetError} (a `TypeError`) if the file is truncated or corrupt (see {@linkcode gunzip} and
 * {@linkcode parseIdx}); the message names the file.
 */
export async function readIdxFile(path: string | URL): Promise<IdxArray> {
  const bytes = await Deno.readFile(path);
  try {
    return parseIdx(isGzip(bytes) ? await gunzip(bytes) : bytes);
  } catch (err) {
    if (err instanceof TypeError) {
      const where = path instanceof URL ? path.pathname : path;
      throw new CorruptDatasetError(
        where,
        err.message.replace(/^Cannot parse IDX: /, "IDX: ").replace(/^Cannot decompress gzip data: /, "gzip: "),
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}
