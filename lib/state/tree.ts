/**
 * A {@linkcode StateTree} to checkpoint entries and back: every tensor and typed array becomes a named entry (its path
 * in the tree, `state/0/mu/blocks.0.attn.qkv.w`), and the tree's structure, with `{"$tensor": name}` and
 * `{"$array": name}` in their places, becomes JSON. Numbers JSON cannot hold are `{"$num": "NaN"}` (also
 * `"Infinity"`, `"-Infinity"`, `"-0"`), `undefined` is `{"$undefined": 1}`, and a record with a `$` key is wrapped as
 * `{"$obj": {...}}`, so decoding is unambiguous.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { StateArray, StateTree } from "../nn/stateful.ts";
import { CheckpointError } from "./errors.ts";
import type { Entry, EntryDtype } from "./format.ts";

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const MAX_DEPTH = 64;

function bytesOf(a: ArrayBufferView): Uint8Array {
  if (!LITTLE_ENDIAN) throw new RangeError("Cannot write checkpoint: this platform is big-endian");
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function arrayDtype(a: ArrayBufferView): EntryDtype | undefined {
  if (a instanceof Float32Array) return "F32";
  if (a instanceof Float64Array) return "F64";
  if (a instanceof Int32Array) return "I32";
  if (a instanceof Uint16Array) return "U16";
  if (a instanceof Uint8Array) return "U8";
  return undefined;
}

const TENSOR_DTYPES: Record<string, EntryDtype> = { float32: "F32", int32: "I32", bool: "BOOL" };

/**
 * Flattens `tree` into entries (appended to `entries`, named by path under `prefix`) and returns its JSON structure.
 * A tensor held twice in the tree is written once. Downloads each tensor (`dataSync`).
 *
 * @throws {TypeError} for a value a state tree cannot hold (naming its path), a cycle, or a disposed tensor.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { decodeTree, encodeTree } from "./tree.ts";
 * import type { Entry } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * const entries: Entry[] = [];
 * const t = tf.tensor1d([1, 2]);
 * const json = encodeTree({ count: 3, mu: { w: t }, g: [NaN] }, "opt", entries);
 * assert.deepEqual(json, { count: 3, mu: { w: { $tensor: "opt/mu/w" } }, g: [{ $num: "NaN" }] });
 * const back = decodeTree(json, new Map(entries.map((e) => [e.name, e])), "<bytes>") as { mu: { w: tf.Tensor } };
 * assert.deepEqual(Array.from(back.mu.w.dataSync()), [1, 2]);
 * tf.dispose([t, back.mu.w]);
 * ```
 */
export function encodeTree(tree: StateTree, prefix: string, entries: Entry[]): unknown {
  const names = new Set(entries.map((e) => e.name));
  const written = new Map<tf.Tensor, string>();
  const onPath = new Set<object>();
  const fresh = (path: string): string => {
    let name = path, i = 1;
    while (names.has(name)) name = `${path}~${i++}`;
    names.add(name);
    return name;
  };
  const walk = (x: StateTree, path: string): unknown => {
    if (x === undefined) return { $undefined: 1 };
    if (x === null || typeof x === "string" || typeof x === "boolean") return x;
    if (typeof x === "number") {
      if (Object.is(x, -0)) return { $num: "-0" };
      return Number.isFinite(x) ? x : { $num: String(x) };
    }
    if (x instanceof tf.Tensor) {
      const seen = written.get(x);
      if (seen !== undefined) return { $tensor: seen };
      if (x.isDisposed) throw new TypeError(`Cannot write checkpoint: the tensor at '${path}' is disposed`);
      const dtype = TENSOR_DTYPES[x.dtype];
      if (!dtype) throw new TypeError(`Cannot write checkpoint: the tensor at '${path}' has dtype ${x.dtype}`);
      const name = fresh(path);
      const values = x.dataSync();
      const data = dtype === "BOOL" ? Uint8Array.from(values as Uint8Array) : bytesOf(values as StateArray).slice();
      entries.push({ name, dtype, shape: [...x.shape], data });
      written.set(x, name);
      return { $tensor: name };
    }
    if (ArrayBuffer.isView(x)) {
      const dtype = arrayDtype(x);
      if (!dtype) {
        throw new TypeError(`Cannot write checkpoint: the typed array at '${path}' is a ${x.constructor.name}`);
      }
      const name = fresh(path);
      entries.push({ name, dtype, shape: [(x as StateArray).length], data: bytesOf(x).slice() });
      return { $array: name };
    }
    if (typeof x !== "object") {
      throw new TypeError(`Cannot write checkpoint: the value at '${path}' is a ${typeof x}, not state data`);
    }
    if (onPath.has(x)) throw new TypeError(`Cannot write checkpoint: the state tree has a cycle at '${path}'`);
    onPath.add(x);
    try {
      if (Array.isArray(x)) return Array.from(x, (v, i) => walk(v, `${path}/${i}`));
      const proto = Object.getPrototypeOf(x);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`Cannot write checkpoint: the value at '${path}' is a ${proto?.constructor?.name}`);
      }
      const rec = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v, `${path}/${k}`)]));
      return Object.keys(rec).some((k) => k.startsWith("$")) ? { $obj: rec } : rec;
    } finally {
      onPath.delete(x);
    }
  };
  return walk(tree, prefix);
}

function toArray(e: Entry): StateArray {
  const buf = e.data.slice().buffer; // an aligned copy
  switch (e.dtype) {
    case "F32":
      return new Float32Array(buf);
    case "F64":
      return new Float64Array(buf);
    case "I32":
      return new Int32Array(buf);
    case "U16":
      return new Uint16Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

const SPECIAL_NUMS: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 };

/**
 * Rebuilds a tree from {@linkcode encodeTree}'s JSON and the file's entries, making new tensors (owned by the caller).
 *
 * @throws {CheckpointError} (naming `file`) for a malformed structure or a reference to a missing entry; any tensors
 * made before the error are disposed.
 */
export function decodeTree(json: unknown, entries: ReadonlyMap<string, Entry>, file: string): StateTree {
  const made: tf.Tensor[] = [];
  const byEntry = new Map<string, tf.Tensor>();
  const bad = (path: string, what: string): never => {
    throw new CheckpointError(file, `the state tree at '${path || "/"}' ${what}`);
  };
  const entry = (ref: unknown, path: string): Entry => {
    const e = typeof ref === "string" ? entries.get(ref) : undefined;
    return e ?? bad(path, `refers to the entry ${JSON.stringify(ref)}, which the file does not have`);
  };
  const walk = (x: unknown, path: string, depth: number): StateTree => {
    if (depth > MAX_DEPTH) bad(path, `is nested deeper than ${MAX_DEPTH} levels`);
    if (x === null || typeof x === "string" || typeof x === "boolean" || typeof x === "number") return x;
    if (Array.isArray(x)) return x.map((v, i) => walk(v, `${path}/${i}`, depth + 1));
    if (typeof x !== "object") return bad(path, `holds a ${typeof x}`);
    const rec = x as Record<string, unknown>, keys = Object.keys(rec);
    if (keys.length === 1 && keys[0].startsWith("$")) {
      const v = rec[keys[0]];
      switch (keys[0]) {
        case "$tensor": {
          const e = entry(v, path);
          const seen = byEntry.get(e.name);
          if (seen) return seen;
          const dtype = ({ F32: "float32", I32: "int32", BOOL: "bool" } as const)[e.dtype as "F32"];
          if (!dtype) bad(path, `is a tensor of dtype ${e.dtype}, which tfjs has not`);
          const values = e.dtype === "BOOL" ? Uint8Array.from(e.data) : toArray(e) as Float32Array | Int32Array;
          const t = tf.tensor(values, e.shape, dtype);
          made.push(t);
          byEntry.set(e.name, t);
          return t;
        }
        case "$array": {
          const e = entry(v, path);
          if (e.shape.length !== 1) bad(path, `is an array entry of shape [${e.shape}], not 1-D`);
          return toArray(e);
        }
        case "$num":
          return typeof v === "string" && Object.hasOwn(SPECIAL_NUMS, v)
            ? SPECIAL_NUMS[v]
            : bad(path, `holds the number ${JSON.stringify(v)}`);
        case "$undefined":
          return undefined;
        case "$obj":
          if (v === null || typeof v !== "object" || Array.isArray(v)) bad(path, "has a malformed $obj");
          return record(v as Record<string, unknown>, path, depth);
        default:
          return bad(path, `has the unknown node ${JSON.stringify(keys[0])}`);
      }
    }
    return record(rec, path, depth);
  };
  const record = (rec: Record<string, unknown>, path: string, depth: number): StateTree =>
    Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, walk(v, `${path}/${k}`, depth + 1)]));
  try {
    return walk(json, "", 0);
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
}
