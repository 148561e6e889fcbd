/**
 * WTA-CRS as an {@linkcode ActivationPolicy} for a Linear layer's input `x [N, in]`: the forward runs exactly, the
 * policy keeps k of the N rows (tokens) with their indices and weights, and the layer's weight gradient is computed
 * from those rows alone (`weightGrad`): `∇W ≈ Σ_t s_t · x_{i_t}ᵀ·dy_{i_t}`, unbiased. The input and bias gradients
 * never read the saved input, so they stay exact.
 *
 * Sampling weights are `w_i = ‖x_i‖ · g_i · live_i`:
 * - `g_i` is the row's output-gradient norm from the last backward that saw the same example (`scores: "cached"`, the
 *   default, when the batch carries example ids: `Batch.rows.ids`), else 1 (`‖x_i‖` alone). A row whose example is
 *   not in the cache (its first visit) gets the mean cached norm of the batch's other rows, and a cached norm is never
 *   below 1% of that mean; without any cached row every `g_i` is 1. These choices move variance, never bias: the
 *   estimate is unbiased from the first step for any positive weights (the original zeroes the cached norms on a
 *   first visit and then drops the reweighting, which is biased).
 * - `live_i` is 0 for padding tokens (`Batch.rows.live`, whose output gradient is zero), so no budget is spent there.
 *
 * Variance: `‖x_i‖·‖dy_i‖` is the variance-optimal CRS distribution for the current step; the cache approximates it
 * with the previous visit's `‖dy_i‖` (stale by an epoch, but the per-token gradient profile of an example changes
 * slowly), `‖x_i‖` alone ignores which tokens carry the loss's gradient. The notebook (`notebooks/03_wtacrs.ipynb`)
 * measures all three against the oracle (the current `‖dy_i‖`).
 *
 * The draws come from `savedRng(seed, info)` (policy seed, pass key, tag) and the weights from the input and the cache
 * as it was before the pass's step, so a checkpoint recompute (or a replay of the step) keeps the same rows.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type ActivationPolicy, dtypeBytes, keepPolicy, type SavedInfo, savedRng } from "../nn/policy.ts";
import { type Estimator, ESTIMATORS, rowBudget, type RowSample, sampleRows } from "./estimator.ts";
import { gatherRows, gatherRowsScaled, rowNorms as normsOfRows } from "./kernels.ts";
import { GradNormCache } from "./norm_cache.ts";

/** Where the second factor of the sampling weights comes from (see the module doc). */
export type WtacrsScores = "cached" | "input";

/** Options for {@linkcode wtacrsPolicy}. */
export interface WtacrsPolicyOptions {
  /** Fraction of the rows kept, in (0, 1]: k = clamp(⌊ratio·N⌋, minK, N); k = N is exact. @default {0.3} */
  ratio?: number;
  /** Least number of rows kept, an integer ≥ 1. @default {10} */
  minK?: number;
  /** `"wta-crs"` (adaptive winners + reweighted samples), `"crs"` (no winners) or `"top-k"` (biased control). @default {"wta-crs"} */
  estimator?: Estimator;
  /**
   * `"cached"`: `‖x_i‖` times the last backward's `‖dy_i‖` of the same example when the batch has example ids;
   * `"input"`: `‖x_i‖` alone. @default {"cached"}
   */
  scores?: WtacrsScores;
  /** How the kept rows themselves are held (e.g. Mesa's 8-bit policy). @default {keepPolicy} */
  inner?: ActivationPolicy;
  /** Base seed of the draws (combined with the pass key and the tag). @default {0} */
  seed?: number;
  /** The gradient-norm cache to read and write (several policies may share one). @default {a new GradNormCache} */
  cache?: GradNormCache;
}

/** What {@linkcode WtacrsPolicy.pack} returns: the whole input (k = N) or k rows with indices and weights. */
export type WtacrsPacked =
  | { readonly kind: "exact"; readonly inner: unknown }
  | {
    readonly kind: "sampled";
    /** The kept rows `[k, in]`, packed by the inner policy. */
    readonly rows: unknown;
    /** Their row indices `[k]` (int32, ascending). */
    readonly indices: tf.Tensor1D;
    /** Their weights `[k]` (float32). */
    readonly scales: tf.Tensor1D;
    /** Rows N and columns of the input. */
    readonly shape: readonly [number, number];
    /** How many rows are deterministic winners. */
    readonly winners: number;
  };

/** The WTA-CRS policy with its options and cache. */
export interface WtacrsPolicy extends ActivationPolicy<WtacrsPacked> {
  /** Options in effect (`inner` and `cache` resolved). */
  readonly options: Readonly<Required<WtacrsPolicyOptions>>;
  /** The cache of output-gradient row norms. */
  readonly cache: GradNormCache;
  /** The rows that would be kept for `x` under `info` (what `pack` keeps), for inspection and tests. */
  sample(x: tf.Tensor2D, info: SavedInfo): RowSample;
  /** The weight gradient `xᵀ·dy` from the kept rows only (unbiased; exact when k = N). */
  weightGrad(p: WtacrsPacked, dy: tf.Tensor2D, info: SavedInfo): tf.Tensor2D;
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Validates WTA-CRS options and fills in defaults; errors are std-style and name `fn`, the option and its value.
 *
 * @example Usage
 * ```ts
 * import { resolveWtacrsOptions } from "./policy.ts";
 * resolveWtacrsOptions("wtacrs policy", {}).ratio; // 0.3
 * // resolveWtacrsOptions("wtacrs policy", { ratio: 0 }) throws RangeError:
 * //   "Cannot create wtacrs policy: 'ratio' must be in (0, 1]: current value is 0"
 * ```
 * @throws {RangeError | TypeError} on a bad option.
 */
export function resolveWtacrsOptions(
  fn: string,
  o: WtacrsPolicyOptions,
): Omit<Required<WtacrsPolicyOptions>, "cache"> & { cache?: GradNormCache } {
  const ratio = o.ratio ?? 0.3;
  if (typeof ratio !== "number" || !(ratio > 0 && ratio <= 1)) {
    throw new RangeError(`Cannot create ${fn}: 'ratio' must be in (0, 1]: current value is ${show(ratio)}`);
  }
  const minK = o.minK ?? 10;
  if (typeof minK !== "number" || !Number.isInteger(minK) || minK < 1) {
    throw new RangeError(`Cannot create ${fn}: 'minK' must be an integer >= 1: current value is ${show(minK)}`);
  }
  const estimator = o.estimator ?? "wta-crs";
  if (!ESTIMATORS.includes(estimator)) {
    throw new TypeError(
      `Cannot create ${fn}: 'estimator' must be one of ${
        ESTIMATORS.map((e) => `"${e}"`).join(", ")
      }: current value is ${show(estimator)}`,
    );
  }
  const scores = o.scores ?? "cached";
  if (scores !== "cached" && scores !== "input") {
    throw new TypeError(`Cannot create ${fn}: 'scores' must be "cached" or "input": current value is ${show(scores)}`);
  }
  const inner = o.inner ?? keepPolicy;
  if (typeof inner !== "object" || inner === null || typeof inner.pack !== "function") {
    throw new TypeError(`Cannot create ${fn}: 'inner' must be an ActivationPolicy: current value is ${show(inner)}`);
  }
  const seed = o.seed ?? 0;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot create ${fn}: 'seed' must be a safe integer: current value is ${show(seed)}`);
  }
  if (o.cache !== undefined && !(o.cache instanceof GradNormCache)) {
    throw new TypeError(`Cannot create ${fn}: 'cache' must be a GradNormCache: current value is ${show(o.cache)}`);
  }
  return { ratio, minK, estimator, scores, inner, seed, ...(o.cache ? { cache: o.cache } : {}) };
}

/** Row norms `‖x_i‖` of a `[N, C]` tensor, on the host. */
function rowNorms(x: tf.Tensor2D): Float32Array {
  const norms = normsOfRows(x); // [N]
  try {
    return norms.dataSync() as Float32Array;
  } finally {
    norms.dispose();
  }
}

/** The policy's readable name: `wta-crs(0.3)`, with `+inner` when the rows are packed by another policy. */
function policyName(o: { estimator: Estimator; ratio: number; inner: ActivationPolicy }): string {
  return `${o.estimator}(${o.ratio})${o.inner === keepPolicy ? "" : `+${o.inner.name}`}`;
}

/**
 * Creates the WTA-CRS policy for `linear.input` tensors `[N, in]` (see the module doc): pack keeps
 * k = clamp(⌊ratio·N⌋, minK, N) rows chosen by the estimator plus their int32 indices and float32 weights (or the
 * whole input when k = N, or all rows of positive weight when there are at most k); `weightGrad` returns the unbiased
 * weight-gradient estimate from them; `unpack` returns the dense stand-in `x̂` (weighted rows scattered back, zero
 * elsewhere) with `x̂ᵀ·dy` equal to that estimate, for a consumer that needs a tensor.
 *
 * Bytes held: the inner policy's bytes of `[k, in]` plus 8 per kept row; {@linkcode WtacrsPolicy.predictBytes} gives
 * this from the shape (an upper bound when fewer than k rows have a positive weight).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { wtacrsPolicy } from "./policy.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = wtacrsPolicy({ ratio: 0.25, minK: 1 });
 * const info = { tag: "blocks.0.mlp.fc1.input", role: "linear.input", step: 0, seed: 0 };
 * const x = tf.randomNormal([64, 8]) as tf.Tensor2D, dy = tf.randomNormal([64, 4]) as tf.Tensor2D;
 * const packed = policy.pack(x, info);
 * assert.equal(policy.bytes(packed), 16 * 8 * 4 + 16 * 8); // 16 rows of 8 floats + an index and a weight per row
 * const dw = policy.weightGrad(packed, dy, info); // [8, 4], unbiased estimate of xᵀ·dy
 * assert.deepEqual(dw.shape, [8, 4]);
 * policy.dispose(packed);
 * tf.dispose([x, dy, dw]);
 * policy.cache.dispose();
 * ```
 * @throws {RangeError | TypeError} on bad options (the message names the option and its value).
 */
export function wtacrsPolicy(options: WtacrsPolicyOptions = {}): WtacrsPolicy {
  const o = resolveWtacrsOptions("wtacrs policy", options);
  const cache = o.cache ?? new GradNormCache();
  const opts = Object.freeze({ ...o, cache });
  const inner = o.inner;

  /** The per-row factor g_i from the cache (see the module doc), or undefined for `‖x_i‖` alone. */
  const gradFactor = (info: SavedInfo, n: number): Float32Array | undefined => {
    const ids = info.rows?.ids;
    if (o.scores !== "cached" || !ids || ids.length === 0 || n % ids.length !== 0) return undefined;
    const per = n / ids.length, step = info.step ?? 0, live = liveMask(info, n);
    const g = new Float32Array(n), hit = new Uint8Array(ids.length);
    let sum = 0, count = 0;
    for (let e = 0; e < ids.length; e++) {
      const v = cache.read(info.tag, ids[e], step, per);
      if (!v) continue;
      hit[e] = 1;
      g.set(v, e * per);
      for (let r = 0; r < per; r++) {
        if (live && !live[e * per + r]) continue;
        sum += v[r];
        count++;
      }
    }
    const mean = count > 0 ? sum / count : 0;
    if (!(mean > 0)) return undefined;
    const floor = 0.01 * mean;
    for (let e = 0; e < ids.length; e++) {
      for (let r = e * per; r < (e + 1) * per; r++) g[r] = hit[e] ? Math.max(g[r], floor) : mean;
    }
    return g;
  };

  const liveMask = (info: SavedInfo, n: number): Uint8Array | undefined => {
    const live = info.rows?.live;
    return live && live.length === n ? live : undefined;
  };

  const sample = (x: tf.Tensor2D, info: SavedInfo, k: number): RowSample => {
    const n = x.shape[0];
    const w = rowNorms(x);
    const g = gradFactor(info, n), live = liveMask(info, n);
    for (let i = 0; i < n; i++) {
      if (g) w[i] *= g[i];
      if (live && !live[i]) w[i] = 0;
    }
    return sampleRows(w, k, o.estimator, savedRng(o.seed, info));
  };

  const check = (t: tf.Tensor, info: SavedInfo): void => {
    if (t.rank !== 2 || t.dtype !== "float32") {
      throw new TypeError(
        `Cannot sample rows of "${info.tag}": WTA-CRS packs float32 [N, in] Linear inputs: current shape [${t.shape}], dtype ${t.dtype}`,
      );
    }
  };

  return Object.freeze({
    name: policyName(o),
    exact: o.ratio === 1 && inner.exact,
    options: opts,
    cache,
    sample(x: tf.Tensor2D, info: SavedInfo): RowSample {
      check(x, info);
      return sample(x, info, rowBudget(x.shape[0], o.ratio, o.minK));
    },
    pack(t: tf.Tensor, info: SavedInfo): WtacrsPacked {
      check(t, info);
      const [n, cols] = t.shape as [number, number];
      const k = rowBudget(n, o.ratio, o.minK);
      if (k === n) return { kind: "exact", inner: inner.pack(t, info) };
      const s = sample(t as tf.Tensor2D, info, k);
      const indices = tf.keep(tf.tensor1d(s.indices, "int32"));
      const scales = tf.keep(tf.tensor1d(s.scales, "float32"));
      const gathered = gatherRows(t as tf.Tensor2D, indices); // [k, in]
      let rows: unknown;
      try {
        rows = inner.pack(gathered, info);
      } catch (e) {
        tf.dispose([indices, scales]);
        throw e;
      } finally {
        gathered.dispose();
      }
      return { kind: "sampled", rows, indices, scales, shape: [n, cols], winners: s.winners };
    },
    unpack(p: WtacrsPacked, info: SavedInfo): tf.Tensor {
      if (p.kind === "exact") return inner.unpack(p.inner, info);
      return tf.tidy(() => {
        const k = p.indices.shape[0];
        const rows = inner.unpack(p.rows, info); // [k, in]
        const weighted = tf.mul(rows, p.scales.reshape([k, 1])); // [k, in]
        return tf.scatterND(p.indices.reshape([k, 1]), weighted, [...p.shape]); // [N, in], duplicates summed
      });
    },
    weightGrad(p: WtacrsPacked, dy: tf.Tensor2D, info: SavedInfo): tf.Tensor2D {
      return tf.tidy(() => {
        if (p.kind === "exact") {
          return tf.matMul(inner.unpack(p.inner, info) as tf.Tensor2D, dy, true, false); // [in, out]
        }
        const [n] = p.shape;
        if (dy.shape[0] !== n) {
          throw new TypeError(
            `Cannot compute the weight gradient of "${info.tag}": dy has ${dy.shape[0]} rows, the input had ${n}`,
          );
        }
        recordGradNorms(info, dy);
        const rows = inner.unpack(p.rows, info) as tf.Tensor2D; // [k, in]
        const dyk = gatherRowsScaled(dy, p.indices, p.scales); // [k, out]
        return tf.matMul(rows, dyk, true, false); // [in, out]
      });
    },
    bytes(p: WtacrsPacked): number {
      if (p.kind === "exact") return inner.bytes(p.inner);
      return inner.bytes(p.rows) + p.indices.size * 4 + p.scales.size * 4;
    },
    predictBytes(shape: readonly number[], dtype: tf.DataType, info: SavedInfo): number {
      if (shape.length !== 2) return shape.reduce((a, b) => a * b, 1) * dtypeBytes(dtype);
      const [n, cols] = shape;
      const k = rowBudget(n, o.ratio, o.minK);
      if (k === n) return inner.predictBytes(shape, dtype, info);
      return inner.predictBytes([k, cols], dtype, info) + 8 * k;
    },
    dispose(p: WtacrsPacked): void {
      if (p.kind === "exact") return inner.dispose(p.inner);
      inner.dispose(p.rows);
      p.indices.dispose();
      p.scales.dispose();
    },
  });

  /** Writes this backward's output-gradient row norms to the cache, per example (when the batch has ids). */
  function recordGradNorms(info: SavedInfo, dy: tf.Tensor2D): void {
    const ids = info.rows?.ids, n = dy.shape[0];
    if (o.scores !== "cached" || !ids || ids.length === 0 || n % ids.length !== 0) return;
    const norms = rowNorms(dy), per = n / ids.length, step = info.step ?? 0;
    for (let e = 0; e < ids.length; e++) cache.write(info.tag, ids[e], step, norms.subarray(e * per, (e + 1) * per));
  }
}
