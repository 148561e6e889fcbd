/**
 * Real 1-byte storage for 8-bit codes on tfjs, which has no uint8 dtype.
 *
 * A `bool` tensor is 1 byte per element (tfjs, `tf.memory()` and memtrain's meter all count it that way) and its
 * buffer can hold any byte 0..255: `tf.tensor(u8, shape, "bool")` keeps the raw values and `.cast("int32")` /
 * `.cast("float32")` read them back exactly on cpu and wasm. Writing is backend-specific: on wasm,
 * `cast(int32 → bool)` keeps the low byte (the kernel is a typed-array copy), so packing stays on-device; on cpu it
 * gives 0/1, so codes go through `dataSync` → `Uint8Array` → `tf.tensor(u8, shape, "bool")`. Which path works is
 * probed once per backend (all 256 values must round-trip), so an unexpected backend falls back to the safe path.
 * These behaviours are undocumented tfjs 4.22 internals; `tests/mesa/storage_test.ts` pins them.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** How {@linkcode packBytes} and {@linkcode unpackBytes} run on the current backend. */
export interface BytePaths {
  /** `codes.cast("bool")` keeps the low byte (wasm), so packing needs no download. */
  castPack: boolean;
  /** `bytes.cast("int32" | "float32")` returns the raw byte values, so unpacking needs no download. */
  castUnpack: boolean;
}

const probed = new Map<string, BytePaths>();

function allBytes(): Int32Array {
  return Int32Array.from({ length: 256 }, (_, i) => i);
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function probe(): BytePaths {
  const want = allBytes();
  const castUnpack = tf.tidy(() => {
    const raw = tf.tensor(Uint8Array.from(want), [256], "bool");
    return sameValues(raw.cast("int32").dataSync(), want) && sameValues(raw.cast("float32").dataSync(), want);
  });
  const castPack = castUnpack && tf.tidy(() => {
    const packed = tf.tensor1d(want, "int32").cast("bool");
    return sameValues(packed.dataSync(), want) && sameValues(packed.cast("int32").dataSync(), want);
  });
  return { castPack, castUnpack };
}

/**
 * The storage paths in use on the current backend, probed once per backend name (`tf.getBackend()`) with all 256
 * byte values.
 *
 * @example Usage
 * ```ts
 * import { bytePaths } from "./storage.ts";
 * const { castPack } = bytePaths(); // true on wasm, false on cpu
 * ```
 */
export function bytePaths(): BytePaths {
  const name = tf.getBackend();
  let paths = probed.get(name);
  if (!paths) {
    paths = probe();
    probed.set(name, paths);
  }
  return paths;
}

/**
 * Packs integer codes in [0, 255] into a `bool` tensor of the same shape holding one byte per element. `codes` may be
 * int32 or integer-valued float32; values outside [0, 255] wrap modulo 256, so clamp first. The result is a fresh
 * tensor the caller owns (`tf.keep` it to carry it out of a `tf.tidy`).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { packBytes, unpackBytes } from "./storage.ts";
 * const bytes = packBytes(tf.tensor1d([0, 7, 255], "int32"));
 * bytes.dtype; // "bool" (1 byte per element)
 * unpackBytes(bytes).dataSync(); // Int32Array [0, 7, 255]
 * ```
 * @throws {TypeError} when `codes` is not int32 or float32.
 */
export function packBytes(codes: tf.Tensor): tf.Tensor {
  if (codes.dtype !== "int32" && codes.dtype !== "float32") {
    throw new TypeError(`Cannot pack bytes: codes must be int32 or float32: current dtype is ${codes.dtype}`);
  }
  if (bytePaths().castPack) {
    return tf.tidy(() => (codes.dtype === "int32" ? codes : codes.cast("int32")).cast("bool"));
  }
  const values = codes.dataSync();
  const u8 = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) u8[i] = values[i];
  return tf.tensor(u8, codes.shape, "bool");
}

/**
 * Reads the byte codes of a tensor made by {@linkcode packBytes} as `int32` (default) or `float32` values in
 * [0, 255]. The result is a fresh tensor the caller owns.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { packBytes, unpackBytes } from "./storage.ts";
 * unpackBytes(packBytes(tf.tensor1d([3, 200], "int32")), "float32").dataSync(); // Float32Array [3, 200]
 * ```
 * @throws {TypeError} when `bytes` is not a bool tensor.
 */
export function unpackBytes(bytes: tf.Tensor, dtype: "int32" | "float32" = "int32"): tf.Tensor {
  if (bytes.dtype !== "bool") {
    throw new TypeError(`Cannot unpack bytes: expected a bool tensor: current dtype is ${bytes.dtype}`);
  }
  if (bytePaths().castUnpack) return bytes.cast(dtype);
  const u8 = bytes.dataSync() as Uint8Array;
  return tf.tensor(dtype === "int32" ? Int32Array.from(u8) : Float32Array.from(u8), bytes.shape, dtype);
}
