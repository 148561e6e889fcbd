/**
 * The checkpoint file layout (safetensors): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, ..., "__metadata__": { key: string } }` (padded with spaces
 * so the data starts 8-aligned), then the raw little-endian data of every entry, back to back in header order.
 * memtrain adds `"memtrain.crc32"` to the metadata: the CRC-32 of the header JSON without that key (as written) and
 * then the data, so a flipped bit anywhere is caught. {@linkcode decodeEntries} validates everything and never runs
 * code: a bad file throws a {@linkcode CheckpointError}.
 * @module
 */
import { crc32 } from "./crc32.ts";
import { CheckpointError } from "./errors.ts";

/** The dtypes an entry may have, with their bytes per element. */
export const DTYPE_BYTES = { F32: 4, F64: 8, I32: 4, U16: 2, U8: 1, BOOL: 1 } as const;

/** An entry's dtype (safetensors names). */
export type EntryDtype = keyof typeof DTYPE_BYTES;

/** One named array of a checkpoint: its dtype, shape and little-endian bytes. */
export interface Entry {
  /** The entry's name (unique in the file). */
  name: string;
  /** The element type. */
  dtype: EntryDtype;
  /** The shape (its product times the dtype's bytes is `data.length`). */
  shape: number[];
  /** The raw little-endian bytes. */
  data: Uint8Array;
}

/** The metadata key holding the checksum (8 hex digits). */
export const CHECKSUM_KEY = "memtrain.crc32";
/** The largest header accepted, in bytes (as safetensors: 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_RANK = 16;

/** The checksum of a header object without its checksum key, then the data. */
function checksum(header: Record<string, unknown>, data: Uint8Array): string {
  const json = new TextEncoder().encode(JSON.stringify(header));
  return crc32(data, crc32(json)).toString(16).padStart(8, "0");
}

/**
 * Encodes entries and string metadata into one safetensors buffer, with the checksum in the metadata.
 *
 * @throws {TypeError} for a duplicate or reserved name, or a data length that does not match dtype and shape.
 *
 * @example Round trip
 * ```ts
 * import { decodeEntries, encodeEntries } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * const data = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
 * const bytes = encodeEntries([{ name: "w", dtype: "F32", shape: [3], data }], { note: "hi" });
 * const back = decodeEntries(bytes, "<bytes>");
 * assert.deepEqual(Array.from(new Float32Array(back.entries[0].data.slice().buffer)), [1, 2, 3]);
 * assert.equal(back.metadata.note, "hi");
 * ```
 */
export function encodeEntries(entries: readonly Entry[], metadata: Record<string, string>): Uint8Array {
  const pairs: [string, unknown][] = [], names = new Set<string>();
  let offset = 0;
  for (const e of entries) {
    if (e.name === "__metadata__" || names.has(e.name)) {
      throw new TypeError(`Cannot write checkpoint: entry name '${e.name}' is reserved or used twice`);
    }
    const want = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
    if (want !== e.data.length) {
      throw new TypeError(
        `Cannot write checkpoint: entry '${e.name}' has ${e.data.length} bytes, not ${want} (${e.dtype} [${e.shape}])`,
      );
    }
    names.add(e.name);
    pairs.push([e.name, { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + e.data.length] }]);
    offset += e.data.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const e of entries) {
    data.set(e.data, at);
    at += e.data.length;
  }
  const meta: Record<string, string> = Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== CHECKSUM_KEY));
  const header: Record<string, unknown> = Object.fromEntries([...pairs, ["__metadata__", meta]]);
  meta[CHECKSUM_KEY] = checksum(header, data);
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Decodes and validates a safetensors buffer: the header length against the buffer, the header as UTF-8 JSON, every
 * entry's dtype, shape and offsets (in range, in order, back to back, covering the data), the metadata (strings) and
 * the checksum. The entries' `data` are views into `bytes`.
 *
 * @param bytes The file's contents.
 * @param file The file's name, for messages.
 * @throws {CheckpointError} naming `file` and the first thing that is wrong.
 *
 * @example A truncated buffer
 * ```ts
 * import { decodeEntries, encodeEntries } from "./format.ts";
 * import { CheckpointError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeEntries([{ name: "b", dtype: "U8", shape: [4], data: Uint8Array.of(1, 2, 3, 4) }], {});
 * assert.throws(() => decodeEntries(bytes.subarray(0, bytes.length - 1), "x.safetensors"), CheckpointError);
 * ```
 */
export function decodeEntries(
  bytes: Uint8Array,
  file: string,
): { entries: Entry[]; metadata: Record<string, string> } {
  const bad = (reason: string, cause?: unknown): never => {
    throw new CheckpointError(file, reason, cause === undefined ? undefined : { cause });
  };
  if (bytes.length < 8) bad(`the file has ${bytes.length} bytes, fewer than the 8 of the header length (truncated)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    bad(`the header length ${n} exceeds the ${bytes.length - 8} bytes after it (truncated)`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) bad(`the header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerBytes = bytes.subarray(8, 8 + Number(n));
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch (e) {
    bad("the header is not UTF-8", e);
  }
  if (!text.startsWith("{")) bad("the header does not start with '{'");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    bad(`the header is not JSON (${e instanceof Error ? e.message : String(e)})`, e);
  }
  if (!isRecord(header)) return bad("the header is not a JSON object");
  const data = bytes.subarray(8 + Number(n));
  const meta = header.__metadata__ ?? {};
  if (!isRecord(meta)) return bad("'__metadata__' is not an object");
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== "string") bad(`metadata '${k}' is not a string`);
  }
  const entries: Entry[] = [];
  for (const [name, spec] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (!isRecord(spec)) return bad(`entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: off } = spec;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      bad(`entry '${name}' has dtype ${JSON.stringify(dtype)}, not one of ${Object.keys(DTYPE_BYTES).join(", ")}`);
    }
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every(isCount)) {
      bad(`entry '${name}' has shape ${JSON.stringify(shape)}, not a list of at most ${MAX_RANK} sizes`);
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount) || off[0] > off[1]) {
      bad(`entry '${name}' has data_offsets ${JSON.stringify(off)}, not [begin, end] with begin <= end`);
    }
    const [begin, end] = off as [number, number];
    if (end > data.length) bad(`entry '${name}' ends at byte ${end}, past the ${data.length} data bytes (truncated)`);
    const want = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as EntryDtype];
    if (want !== end - begin) {
      bad(`entry '${name}' has ${end - begin} bytes, but ${dtype} [${shape}] needs ${want}`);
    }
    entries.push({ name, dtype: dtype as EntryDtype, shape: shape as number[], data: data.subarray(begin, end) });
  }
  const sorted = entries.map((e, i) => ({ e, begin: e.data.byteOffset - data.byteOffset, i }))
    .sort((a, b) => a.begin - b.begin || a.i - b.i);
  let at = 0;
  for (const { e, begin } of sorted) {
    if (begin !== at) bad(`entry '${e.name}' starts at byte ${begin}, not ${at} (overlapping or gapped offsets)`);
    at = begin + e.data.length;
  }
  if (at !== data.length) bad(`the data has ${data.length - at} bytes after the last entry`);
  const stored = meta[CHECKSUM_KEY];
  if (typeof stored !== "string") bad(`the metadata has no '${CHECKSUM_KEY}' checksum`);
  const rest: Record<string, unknown> = { ...header, __metadata__: { ...meta } };
  delete (rest.__metadata__ as Record<string, unknown>)[CHECKSUM_KEY];
  const got = checksum(rest, data);
  if (got !== stored) bad(`the checksum does not match (stored ${stored}, contents ${got}): corrupt or tampered`);
  const metadata = Object.fromEntries(Object.entries(meta).filter(([k]) => k !== CHECKSUM_KEY)) as Record<
    string,
    string
  >;
  return { entries, metadata };
}
