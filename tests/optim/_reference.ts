/**
 * Float64 reference optimizers in plain JS (one number array per parameter), for closed-form comparisons, and a
 * diagonal quadratic problem shared by the optimizer tests.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assertAllClose } from "../_util/assert_close.ts";
import { disposeTree, type Grads, type Params } from "../../lib/nn/params.ts";
import { applyUpdates } from "../../lib/optim/apply.ts";
import { disposeState, type GradientTransform, type UpdateExtras } from "../../lib/optim/transform.ts";

/** Plain-number parameter map. */
export type Ref = Record<string, number[]>;

/** Options for {@linkcode refAdamw}. */
export interface RefAdamwOptions {
  lr: number | ((step: number) => number);
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  decayed?: (name: string) => boolean;
}

/** Runs AdamW (PyTorch/optax formulas) over `gradSeq` and returns the parameters after each step. */
export function refAdamw(p0: Ref, gradSeq: Ref[], o: RefAdamwOptions): Ref[] {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, weightDecay = 0, decayed = () => true } = o;
  const p: Ref = structuredClone(p0);
  const mu: Ref = {}, nu: Ref = {};
  for (const k in p) (mu[k] = p[k].map(() => 0)), (nu[k] = p[k].map(() => 0));
  const out: Ref[] = [];
  gradSeq.forEach((g, i) => {
    const t = i + 1;
    const lr = typeof o.lr === "number" ? o.lr : o.lr(i);
    for (const k in p) {
      for (let j = 0; j < p[k].length; j++) {
        mu[k][j] = b1 * mu[k][j] + (1 - b1) * g[k][j];
        nu[k][j] = b2 * nu[k][j] + (1 - b2) * g[k][j] ** 2;
        const mHat = mu[k][j] / (1 - b1 ** t), vHat = nu[k][j] / (1 - b2 ** t);
        let u = mHat / (Math.sqrt(vHat) + eps);
        if (decayed(k)) u += weightDecay * p[k][j];
        p[k][j] -= lr * u;
      }
    }
    out.push(structuredClone(p));
  });
  return out;
}

/** Options for {@linkcode refSgd}. */
export interface RefSgdOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  decayed?: (name: string) => boolean;
}

/** Runs PyTorch-style SGD (coupled L2 decay, no dampening) and returns the parameters after each step. */
export function refSgd(p0: Ref, gradSeq: Ref[], o: RefSgdOptions): Ref[] {
  const { lr, momentum = 0, nesterov = false, weightDecay = 0, decayed = () => true } = o;
  const p: Ref = structuredClone(p0);
  const buf: Ref = {};
  for (const k in p) buf[k] = p[k].map(() => 0);
  const out: Ref[] = [];
  for (const g of gradSeq) {
    for (const k in p) {
      for (let j = 0; j < p[k].length; j++) {
        let d = g[k][j] + (decayed(k) ? weightDecay * p[k][j] : 0);
        if (momentum > 0) {
          buf[k][j] = momentum * buf[k][j] + d;
          d = nesterov ? d + momentum * buf[k][j] : buf[k][j];
        }
        p[k][j] -= lr * d;
      }
    }
    out.push(structuredClone(p));
  }
  return out;
}

/** Shapes of the toy parameters: a matrix (decayed by the default mask) and a bias (not decayed). */
export const SHAPES: Record<string, number[]> = { "fc.w": [2, 3], "fc.b": [3] };

/** Makes tensors from a plain map, with {@linkcode SHAPES}. */
export function toTensors(ref: Ref): Params {
  const out: Params = {};
  for (const k in ref) out[k] = tf.tensor(ref[k], SHAPES[k]);
  return out;
}

/** Reads tensors back into a plain map. */
export function toRef(tree: Params): Ref {
  const out: Ref = {};
  for (const k in tree) out[k] = Array.from(tree[k].dataSync());
  return out;
}

/** Initial parameters for the closed-form tests. */
export const P0: Ref = { "fc.w": [0.5, -1.0, 2.0, 0.1, -0.3, 1.5], "fc.b": [0.2, -0.4, 0.0] };

/** A fixed gradient sequence of 3 steps (sign changes and differing magnitudes exercise both moments). */
export const GRADS: Ref[] = [
  { "fc.w": [0.3, -0.2, 1.0, -0.05, 0.7, 0.2], "fc.b": [0.1, -0.3, 0.25] },
  { "fc.w": [-0.1, -0.4, 0.8, 0.02, 0.5, -0.6], "fc.b": [0.2, 0.1, -0.15] },
  { "fc.w": [0.25, 0.3, -0.9, 0.1, -0.2, 0.4], "fc.b": [-0.05, 0.35, 0.3] },
];

/** Diagonal quadratic `0.5 * sum(a * (p - c)^2)` over {@linkcode SHAPES}, with its gradient `a * (p - c)`. */
export const QUADRATIC = {
  a: { "fc.w": [0.5, 1, 2, 1.5, 0.8, 1.2], "fc.b": [1, 0.6, 1.8] } as Ref,
  c: { "fc.w": [1, -2, 0.5, 3, -1, 2], "fc.b": [-0.5, 1, 2] } as Ref,
  /** The loss as a number. */
  loss(params: Params): number {
    let s = 0;
    for (const k in params) {
      const p = params[k].dataSync();
      for (let j = 0; j < p.length; j++) s += 0.5 * this.a[k][j] * (p[j] - this.c[k][j]) ** 2;
    }
    return s;
  },
  /** The gradient as new tensors (caller disposes). */
  grads(params: Params): Grads {
    const g: Grads = {};
    for (const k in params) {
      g[k] = tf.tidy(() => tf.mul(tf.sub(params[k], tf.tensor(this.c[k], SHAPES[k])), tf.tensor(this.a[k], SHAPES[k])));
    }
    return g;
  },
};

/**
 * Runs `n` full steps (init, update, dispose grads and old state, apply) from `params` (consumed) and returns the
 * final parameters; the final state is disposed.
 */
export function runSteps<S>(
  opt: GradientTransform<S>,
  params: Params,
  n: number,
  gradsAt: (params: Params, step: number) => Grads,
  extras?: UpdateExtras,
): Params {
  let state = opt.init(params);
  for (let i = 0; i < n; i++) {
    const grads = gradsAt(params, i);
    const r = opt.update(grads, state, params, extras);
    disposeTree(grads);
    disposeState(state);
    state = r.state;
    params = applyUpdates(params, r.updates);
  }
  disposeState(state);
  return params;
}

/** Parameters after 1, 2, ... `GRADS.length` steps of `opt` from {@linkcode P0} (each replayed from the start). */
export function trajectory<S>(opt: GradientTransform<S>): Ref[] {
  const out: Ref[] = [];
  for (let n = 1; n <= GRADS.length; n++) {
    const params = runSteps(opt, toTensors(P0), n, (_p, step) => toTensors(GRADS[step]));
    out.push(toRef(params));
    disposeTree(params);
  }
  return out;
}

/** Asserts every step of a trajectory matches the float64 reference within `rtol` (atol 1e-7). */
export function assertTrajectory(actual: Ref[], expected: Ref[], rtol = 1e-5): void {
  if (actual.length !== expected.length) throw new Error(`${actual.length} steps vs ${expected.length}`);
  actual.forEach((step, i) => {
    for (const k in expected[i]) {
      assertAllClose(step[k], expected[i][k], { rtol, atol: 1e-7, msg: `step ${i + 1} '${k}': ` });
    }
  });
}
