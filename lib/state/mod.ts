/**
 * Training-state checkpoints: a safetensors file (8-byte header length, JSON header, raw little-endian data) with a
 * CRC-32 over header and data, state trees (tensors, typed arrays, numbers, records, arrays) flattened into named
 * entries, atomic writes, and a reader that validates everything and throws {@linkcode CheckpointError}.
 * @module
 */
export { CheckpointError } from "./errors.ts";
export { crc32 } from "./crc32.ts";
export {
  CHECKSUM_KEY,
  decodeEntries,
  DTYPE_BYTES,
  encodeEntries,
  type Entry,
  type EntryDtype,
  MAX_HEADER_BYTES,
} from "./format.ts";
export { decodeTree, encodeTree } from "./tree.ts";
export {
  decodeState,
  disposeTreeTensors,
  encodeState,
  readStateFile,
  STATE_FORMAT,
  type StateFile,
  writeFileAtomic,
  writeStateFile,
} from "./file.ts";
