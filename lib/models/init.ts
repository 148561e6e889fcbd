/**
 * Parameter initialization from specs and a seed.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ParamSpec } from "../nn/layer.ts";
import type { Params } from "../nn/params.ts";

/**
 * Creates parameters for `specs` deterministically from `seed` (each tensor gets its own derived seed, so adding a
 * layer does not change the others' values).
 */
export function initParams(specs: ParamSpec[], seed: number): Params {
  const params: Params = {};
  for (const s of specs) {
    if (params[s.name]) throw new RangeError(`Cannot init parameters: duplicate name "${s.name}"`);
    params[s.name] = tf.tidy(() => {
      switch (s.init.kind) {
        case "zeros":
          return tf.zeros(s.shape);
        case "ones":
          return tf.ones(s.shape);
        case "normal":
          return tf.randomNormal(s.shape, 0, s.init.std, "float32", hashSeed(seed, s.name));
      }
    });
  }
  return params;
}

/** A 31-bit seed from a base seed and a name (FNV-1a). */
export function hashSeed(seed: number, name: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h & 0x7fffffff;
}
