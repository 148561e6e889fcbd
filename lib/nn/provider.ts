/**
 * Where layers read their parameters from during one pass.
 *
 * Layers never index a parameter map themselves: they call `ctx.param(name)`, which asks the context's
 * {@linkcode ParamProvider}. The plain provider ({@linkcode paramsProvider}) hands out the model's own tensors; a
 * gradient source may wrap it ({@linkcode mapParams}) so that a forward runs on values computed per tensor on read,
 * e.g. MeZO's `θ + ε·z(seed)`, without writing or copying the parameter set.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Params } from "./params.ts";

/**
 * Reads parameters by full path (`"blocks.0.attn.qkv.w"`).
 *
 * Ownership: a tensor returned by `read` is only valid inside the `tf.tidy` scope that called it, and the caller
 * never disposes it. The plain provider returns the model's own tensor (created outside the scope, so the scope
 * leaves it alone); a computing provider returns a fresh tensor, which the scope frees when it ends. Layers
 * therefore read parameters inside their `tf.tidy`, which is where they use them.
 */
export interface ParamProvider {
  /** Every parameter path, in the model's order. */
  names(): readonly string[];
  /** The shape of `name`, or undefined when there is no such parameter. Cheap: computes nothing. */
  shape(name: string): readonly number[] | undefined;
  /** The value of `name` for this pass, or undefined when there is no such parameter. */
  read(name: string): tf.Tensor | undefined;
}

/** True when `x` is a {@linkcode ParamProvider} (rather than a plain {@linkcode Params} map). */
export function isParamProvider(x: Params | ParamProvider): x is ParamProvider {
  const p = x as Partial<ParamProvider>;
  return typeof p.read === "function" && typeof p.shape === "function" && typeof p.names === "function";
}

/**
 * The plain provider: reads `params[name]` itself (no copy, nothing computed). Later changes to the map (a training
 * step replacing its tensors) are seen by the provider.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { paramsProvider } from "./provider.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { "fc.w": tf.ones([2, 3]) };
 * const p = paramsProvider(params);
 * assert.equal(p.read("fc.w"), params["fc.w"]);
 * assert.deepEqual(p.shape("fc.w"), [2, 3]);
 * assert.equal(p.read("nope"), undefined);
 * params["fc.w"].dispose();
 * ```
 */
export function paramsProvider(params: Params): ParamProvider {
  return {
    names: () => Object.keys(params),
    shape: (name) => (Object.hasOwn(params, name) ? params[name].shape : undefined),
    read: (name) => (Object.hasOwn(params, name) ? params[name] : undefined),
  };
}

/**
 * A provider whose values are `f(name, base.read(name))`, computed on every read (in a `tf.tidy` of its own, so f's
 * intermediates are freed at once) and never stored: the extra memory of a forward on it is the parameters of one
 * layer at a time (each freed by the reading layer's `tf.tidy`), and `base` is never modified. `f` must return a tensor of the same shape (checked) and must not dispose its input; returning the
 * input itself (unchanged) is allowed for parameters it leaves alone.
 *
 * @example θ + ε·z for a forward-only pass
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mapParams, paramsProvider } from "./provider.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { w: tf.tensor1d([1, 2]) };
 * const z = tf.tensor1d([1, -1]);
 * const plus = mapParams(paramsProvider(params), (_name, theta) => tf.add(theta, tf.mul(z, 1e-3)));
 * const w = tf.tidy(() => Array.from(plus.read("w")!.dataSync()));
 * assert.deepEqual(w, [Math.fround(1.001), Math.fround(1.999)]);
 * assert.deepEqual(Array.from(params.w.dataSync()), [1, 2]); // unchanged
 * params.w.dispose();
 * z.dispose();
 * ```
 */
export function mapParams(base: ParamProvider, f: (name: string, value: tf.Tensor) => tf.Tensor): ParamProvider {
  return {
    names: () => base.names(),
    shape: (name) => base.shape(name),
    read: (name) => {
      const v = base.read(name);
      if (v === undefined) return undefined;
      const out = tf.tidy(() => f(name, v)); // f's intermediates are freed at once; only the value lives on
      if (out.shape.length !== v.shape.length || out.shape.some((d, i) => d !== v.shape[i])) {
        throw new TypeError(
          `Cannot read parameter "${name}": the mapped value has shape [${out.shape}], not the parameter's [${v.shape}]`,
        );
      }
      return out;
    },
  };
}
