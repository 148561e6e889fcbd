/**
 * A training-state file: named {@linkcode StateTree} sections and JSON metadata in one checkpoint (safetensors layout,
 * `lib/state/format.ts`), written atomically (a temp file in the same folder, fsync, rename, fsync of the folder) and
 * read with every check.
 * @module
 */
import type { StateTree } from "../nn/stateful.ts";
import * as tf from "@tensorflow/tfjs";
import { CheckpointError } from "./errors.ts";
import { decodeEntries, encodeEntries, type Entry } from "./format.ts";
import { decodeTree, encodeTree } from "./tree.ts";

/** The `"memtrain.format"` metadata value of this layout. */
export const STATE_FORMAT = "memtrain-state/1";

/** What a state file holds: sections of state (e.g. `params`, `optimizer`) and plain JSON metadata. */
export interface StateFile {
  /** The sections, each a state tree; their tensors and arrays are the file's entries. */
  tree: Record<string, StateTree>;
  /** Plain JSON data (step, seed, config, ...), stored as the `"memtrain.meta"` metadata string. */
  meta: Record<string, unknown>;
}

/**
 * Encodes a state file to bytes: entries named by their path (`params/embed.wte`), the tree's structure in the
 * metadata key `"memtrain.tree"`, `meta` in `"memtrain.meta"`, the format in `"memtrain.format"`.
 *
 * @example Round trip
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { decodeState, encodeState } from "./file.ts";
 * import assert from "node:assert/strict";
 *
 * const w = tf.tensor2d([[1, 2]]);
 * const bytes = encodeState({ tree: { params: { w } }, meta: { step: 3 } });
 * const back = decodeState(bytes, "<bytes>");
 * assert.equal(back.meta.step, 3);
 * assert.deepEqual((back.tree.params as { w: tf.Tensor }).w.shape, [1, 2]);
 * tf.dispose([w, (back.tree.params as { w: tf.Tensor }).w]);
 * ```
 */
export function encodeState(file: StateFile): Uint8Array {
  const entries: Entry[] = [];
  const structure = Object.fromEntries(Object.entries(file.tree).map(([k, v]) => [k, encodeTree(v, k, entries)]));
  return encodeEntries(entries, {
    "memtrain.format": STATE_FORMAT,
    "memtrain.tree": JSON.stringify(structure),
    "memtrain.meta": JSON.stringify(file.meta),
  });
}

/**
 * Decodes and validates a state file (see `decodeEntries`); the tree's tensors are new (the caller disposes them).
 *
 * @throws {CheckpointError} naming `file` and what is wrong.
 */
export function decodeState(bytes: Uint8Array, file: string): StateFile {
  const { entries, metadata } = decodeEntries(bytes, file);
  if (metadata["memtrain.format"] !== STATE_FORMAT) {
    throw new CheckpointError(
      file,
      `the format is ${JSON.stringify(metadata["memtrain.format"] ?? null)}, not "${STATE_FORMAT}"`,
    );
  }
  const parse = (key: string): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(metadata[key] ?? "");
    } catch (e) {
      throw new CheckpointError(file, `the metadata '${key}' is not JSON`, { cause: e });
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new CheckpointError(file, `the metadata '${key}' is not a JSON object`);
    }
    return v as Record<string, unknown>;
  };
  const structure = parse("memtrain.tree"), meta = parse("memtrain.meta");
  const byName = new Map(entries.map((e) => [e.name, e]));
  const tree: Record<string, StateTree> = {};
  try {
    for (const [k, v] of Object.entries(structure)) {
      Object.defineProperty(tree, k, { value: decodeTree(v, byName, file), enumerable: true, writable: true });
    }
  } catch (e) {
    disposeTreeTensors(tree);
    throw e;
  }
  return { tree, meta };
}

/** Disposes every tensor of a decoded tree. */
export function disposeTreeTensors(tree: StateTree): void {
  const walk = (x: StateTree): void => {
    if (x instanceof tf.Tensor) x.dispose();
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === "object" && !ArrayBuffer.isView(x)) Object.values(x).forEach(walk);
  };
  walk(tree);
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Writes `bytes` to `path` atomically: into a temp file in the same folder, fsync'ed, then renamed over `path`, and
 * the folder fsync'ed, so a crash at any point leaves either the old file or the new one, whole. The temp file is
 * removed when writing fails.
 *
 * @example Usage
 * ```ts
 * import { writeFileAtomic } from "./file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileAtomic(`${dir}/a.bin`, Uint8Array.of(1, 2));
 * assert.deepEqual(Array.from(Deno.readFileSync(`${dir}/a.bin`)), [1, 2]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const dir = dirOf(path), base = path.slice(path.lastIndexOf("/") + 1);
  const tmp = `${dir}/.${base}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const f = Deno.openSync(tmp, { write: true, createNew: true });
  try {
    try {
      for (let at = 0; at < bytes.length;) at += f.writeSync(bytes.subarray(at));
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
    throw e;
  }
  try {
    const d = Deno.openSync(dir, { read: true });
    try {
      d.syncSync();
    } finally {
      d.close();
    }
  } catch { /* some systems cannot fsync a folder; the rename is done */ }
}

/**
 * Writes a state file atomically (see {@linkcode writeFileAtomic}).
 *
 * @example Usage
 * ```ts
 * import { readStateFile, writeStateFile } from "./file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * writeStateFile(`${dir}/s.safetensors`, { tree: { run: { pos: Int32Array.of(4) } }, meta: { step: 1 } });
 * assert.equal(readStateFile(`${dir}/s.safetensors`).meta.step, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeStateFile(path: string, file: StateFile): void {
  writeFileAtomic(path, encodeState(file));
}

/**
 * Reads and validates a state file.
 *
 * @example A missing file
 * ```ts
 * import { readStateFile } from "./file.ts";
 * import { CheckpointError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readStateFile("/no/such/step-00000001.safetensors"), CheckpointError);
 * ```
 *
 * @throws {CheckpointError} when it is missing, unreadable, truncated, corrupt or malformed.
 */
export function readStateFile(path: string): StateFile {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot be read (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return decodeState(bytes, path);
}
