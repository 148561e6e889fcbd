/**
 * Gradient checks: a layer's explicit backward against `tf.grads` of its own forward (the oracle).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Context, SavedStore } from "../../lib/nn/context.ts";
import type { Layer } from "../../lib/nn/layer.ts";
import type { Params } from "../../lib/nn/params.ts";
import { keepAll, type PolicySelector } from "../../lib/nn/policy.ts";
import { maxRelError } from "./assert_close.ts";

/** Max relative error per gradient name ("x" for the input). */
export type GradErrors = Record<string, number>;

/**
 * Runs `layer` forward/backward explicitly with a random output gradient and compares the input and parameter
 * gradients with `tf.grads` of `sum(forward(x) * dy)`. Returns the max relative error per tensor. `x` is
 * differentiated when it is float32 (unless `inputGrad: false`, for a first layer whose input needs no gradient);
 * then a missing input gradient (backward returned null) is an error of Infinity, as is a missing parameter gradient
 * or an input gradient returned where none is wanted.
 */
export function layerGradErrors(
  layer: Layer,
  x: tf.Tensor,
  params: Params,
  options: { selector?: PolicySelector; seed?: number; inputGrad?: boolean } = {},
): GradErrors {
  const names = Object.keys(params);
  const wantDx = options.inputGrad ?? x.dtype === "float32";
  const diffX = wantDx && x.dtype === "float32";
  return tf.tidy(() => {
    // Explicit.
    const ctx = new Context({ params, selector: options.selector ?? keepAll });
    const y = layer.forward(x, ctx);
    const dy = tf.randomNormal(y.shape, 0, 1, "float32", options.seed ?? 1);
    const dx = layer.backward(dy, ctx);
    // Oracle.
    const store = new SavedStore();
    const f = (...args: tf.Tensor[]) => {
      const xs = diffX ? args[0] : x;
      const ps = diffX ? args.slice(1) : args;
      const p: Params = {};
      names.forEach((n, i) => (p[n] = ps[i]));
      return tf.sum(tf.mul(layer.forward(xs, new Context({ params: p, store })), dy));
    };
    const inputs = diffX ? [x, ...names.map((n) => params[n])] : names.map((n) => params[n]);
    const oracle = tf.grads(f)(inputs);
    store.dispose();
    const errors: GradErrors = {};
    // A float32 input must get a gradient: a backward that returns null for it fails the check (Infinity). A layer
    // whose input has no gradient by design (`inputGrad: false`: token ids, images) must return null.
    if (diffX) errors.x = dx === null ? Infinity : maxRelError(dx, oracle[0]);
    else errors.x = dx === null ? 0 : Infinity;
    names.forEach((n, i) => {
      const g = ctx.grads[n];
      errors[n] = g ? maxRelError(g, oracle[diffX ? i + 1 : i]) : Infinity;
      g?.dispose();
    });
    return errors;
  });
}

/** Throws when any error exceeds `tol`, listing them all. */
export function assertGradErrors(errors: GradErrors, tol = 1e-5): void {
  const bad = Object.entries(errors).filter(([, e]) => !(e <= tol));
  if (bad.length > 0) {
    throw new Error(`gradient mismatch (tol ${tol}): ${bad.map(([k, e]) => `${k}: ${e.toExponential(2)}`).join(", ")}`);
  }
}
