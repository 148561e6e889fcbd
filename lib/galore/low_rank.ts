/**
 * The "Low-rank" baseline of GaLore's Table 2 (W = BA trained directly; Kamalakara et al. 2022): an optimizer
 * wrapper that keeps each selected weight as factors B (m × r) and A (r × n), trains the factors with the base
 * optimizer on the chain-rule gradients dB = G·Aᵀ and dA = Bᵀ·G (G = ∂L/∂W at W = BA), and emits the weight update
 * B'A' − W. So the model trains as a rank-r factorized model without a new layer type; only the memory differs
 * (the dense W is still held: count the factorized model's memory analytically, as the paper's Table 2 does).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads, Params } from "../nn/params.ts";
import { disposeState, type GradientTransform, type UpdateExtras } from "../optim/transform.ts";
import { defaultGaloreInclude } from "./galore.ts";
import { resolveSvd, type SvdMethod } from "./subspace.ts";

/** Options for {@linkcode lowRankWeights}. */
export interface LowRankWeightsOptions<S> {
  /** Rank r of every factorized weight, in [1, min(m, n)]. */
  rank: number;
  /** The optimizer of the factors and of the other parameters (with the learning rate), e.g. `adamw(...)`. */
  base: GradientTransform<S>;
  /** Which 2-D parameters are factorized. @default {defaultGaloreInclude} */
  include?: (name: string, shape: readonly number[]) => boolean;
  /** The SVD that factorizes the initial weights. @default {"auto"} */
  svd?: SvdMethod;
}

/** One factorized weight: W = B·A. */
export interface Factors {
  /** m × r. */
  readonly b: tf.Tensor2D;
  /** r × n. */
  readonly a: tf.Tensor2D;
}

/** State of {@linkcode lowRankWeights}. */
export interface LowRankWeightsState<S = unknown> {
  /** The base optimizer's state over the factors (`<name>#B`, `<name>#A`) and the other parameters. */
  readonly base: S;
  /** The factors by weight name. */
  readonly factors: Readonly<Record<string, Factors>>;
}

/**
 * Trains the selected weights as rank-r factorizations W = BA (the low-rank-weights baseline). `init` factorizes the
 * initial W by its truncated SVD, balanced (B = U√Σ, A = √ΣVᵀ); the first update's gradient is therefore taken at
 * the dense initial W, and from then on W = BA after every step. Parameters not selected go through `base` as they
 * are. `update` needs `params`.
 *
 * @param options Rank, base optimizer, selection, SVD.
 * @returns The wrapped optimizer.
 * @throws {RangeError} for a rank < 1 or (in `init`) above min(m, n) of a selected weight; {TypeError} when
 * `update` gets no `params`.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { lowRankWeights } from "./low_rank.ts";
 * import { adamw, disposeState } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { "mlp.w": tf.randomNormal([8, 12], 0, 1, "float32", 1) };
 * const opt = lowRankWeights({ rank: 2, base: adamw({ lr: 0.01 }) });
 * const state = opt.init(params);
 * assert.deepEqual(state.factors["mlp.w"].b.shape, [8, 2]);
 * const grads = { "mlp.w": tf.ones([8, 12]) };
 * const { updates, state: next } = opt.update(grads, state, params);
 * const w = tf.add(params["mlp.w"], updates["mlp.w"]); // = B'A', rank 2
 * assert.deepEqual(w.shape, [8, 12]);
 * disposeState([params, state, grads, updates, next, w]);
 * ```
 */
export function lowRankWeights<S>(options: LowRankWeightsOptions<S>): GradientTransform<LowRankWeightsState<S>> {
  const fn = "lowRankWeights";
  const { rank, base, include = defaultGaloreInclude } = options ?? ({} as LowRankWeightsOptions<S>);
  if (!Number.isInteger(rank) || rank < 1) {
    throw new RangeError(`Cannot create ${fn}: 'rank' must be an integer >= 1: current value is ${rank}`);
  }
  const svd = resolveSvd(options.svd ?? "auto");
  const bKey = (k: string) => `${k}#B`, aKey = (k: string) => `${k}#A`;
  /** The tree the base sees: factors in place of the factorized weights. */
  const tree = (params: Params, factors: Readonly<Record<string, Factors>>, perWeight?: Params): Params => {
    const out: Params = {};
    for (const [k, v] of Object.entries(params)) {
      if (k in factors) {
        out[bKey(k)] = perWeight ? perWeight[bKey(k)] : factors[k].b;
        out[aKey(k)] = perWeight ? perWeight[aKey(k)] : factors[k].a;
      } else out[k] = v;
    }
    return out;
  };
  return {
    init(params) {
      const factors: Record<string, Factors> = {};
      try {
        for (const [k, w] of Object.entries(params)) {
          if (w.rank !== 2 || !include(k, w.shape)) continue;
          const [m, n] = w.shape;
          if (rank > Math.min(m, n)) {
            throw new RangeError(
              `Cannot init ${fn}: 'rank' must be <= min(m, n) = ${Math.min(m, n)} for parameter '${k}' [${w.shape}]: ` +
                `current value is ${rank}`,
            );
          }
          const data = w.dataSync() as Float32Array;
          const u = svd.find(w as tf.Tensor2D, rank, "left", { name: k, step: 0, data });
          if (!u) throw new RangeError(`Cannot init ${fn}: the SVD of parameter '${k}' failed`);
          factors[k] = tf.tidy(() => {
            const p = tf.tensor2d(u, [m, rank]);
            const sa = tf.matMul(p, w as tf.Tensor2D, true, false); // Σ Vᵀ (r × n): row norms are the σ
            const sigma = tf.maximum(tf.norm(sa, "euclidean", 1), 1e-12); // [r]
            const root = tf.sqrt(sigma);
            return {
              b: tf.keep(tf.mul(p, root.reshape([1, rank]))) as tf.Tensor2D,
              a: tf.keep(tf.div(sa, root.reshape([rank, 1]))) as tf.Tensor2D,
            };
          });
        }
        return { base: base.init(tree(params, factors)), factors };
      } catch (e) {
        disposeState(factors);
        throw e;
      }
    },
    update(grads: Grads, state, params?: Params, extras?: UpdateExtras) {
      if (params === undefined) {
        throw new TypeError(`Cannot update ${fn}: 'params' is required: current value is undefined`);
      }
      const f = state.factors;
      const factorGrads: Params = {};
      const temps: tf.Tensor[] = [];
      try {
        for (const k of Object.keys(f)) {
          const [db, da] = tf.tidy(() => [
            tf.matMul(grads[k] as tf.Tensor2D, f[k].a, false, true),
            tf.matMul(f[k].b, grads[k] as tf.Tensor2D, true, false),
          ]);
          temps.push(db, da);
          factorGrads[bKey(k)] = db;
          factorGrads[aKey(k)] = da;
        }
        const r = base.update(tree(grads, f, factorGrads), state.base, tree(params, f), extras);
        const updates: Grads = {};
        const factors: Record<string, Factors> = {};
        for (const [k, u] of Object.entries(r.updates)) if (!k.includes("#")) updates[k] = u;
        for (const k of Object.keys(f)) {
          const ub = r.updates[bKey(k)], ua = r.updates[aKey(k)];
          const b = tf.keep(tf.add(f[k].b, ub)) as tf.Tensor2D, a = tf.keep(tf.add(f[k].a, ua)) as tf.Tensor2D;
          factors[k] = { b, a };
          updates[k] = tf.keep(tf.tidy(() => tf.sub(tf.matMul(b, a), params[k])));
          tf.dispose([ub, ua]);
        }
        return { updates, state: { base: r.state, factors } };
      } finally {
        tf.dispose(temps);
      }
    },
  };
}

/**
 * The parameter and optimizer-state elements of the factorized model: per selected m × n weight r·(m + n) weights
 * and `momentsPerElement`·r·(m + n) state; others their size and `momentsPerElement`·size.
 *
 * @example Usage
 * ```ts
 * import { lowRankElements } from "./low_rank.ts";
 * import assert from "node:assert/strict";
 *
 * const e = lowRankElements({ "mlp.w": [256, 1024], "mlp.b": [1024] }, 64);
 * assert.equal(e.weights, 64 * (256 + 1024) + 1024);
 * assert.equal(e.state, 2 * e.weights);
 * ```
 */
export function lowRankElements(
  shapes: Readonly<Record<string, readonly number[]>>,
  rank: number,
  options: { include?: (name: string, shape: readonly number[]) => boolean; momentsPerElement?: number } = {},
): { weights: number; state: number } {
  const include = options.include ?? defaultGaloreInclude, moments = options.momentsPerElement ?? 2;
  let weights = 0;
  for (const [k, s] of Object.entries(shapes)) {
    weights += s.length === 2 && include(k, s) ? rank * (s[0] + s[1]) : s.reduce((a, b) => a * b, 1);
  }
  return { weights, state: moments * weights };
}
