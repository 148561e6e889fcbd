/**
 * GaLore (Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection", ICML 2024,
 * arXiv:2403.03507) as seam-C transforms: {@linkcode scaleByGalore} runs a base transform (Adam by default) on a
 * rank-r projection of each selected 2-D gradient and projects its output back; {@linkcode galore} is the optimizer
 * `chain(scaleByGalore, addDecayedWeights, scaleByLearningRate)`.
 *
 * For a weight gradient G (m × n) with projector P:
 * - `"left"` side: P is m × r with orthonormal columns (top-r left singular vectors of G); R = PᵀG (r × n);
 *   back-projection P·N (m × n).
 * - `"right"` side: P is r × n with orthonormal rows (top-r right singular vectors); R = G·Pᵀ (m × r); back N·P.
 *
 * The side is decided once, in `init`, from the shape and `projType` (`"std"`: the smaller dimension, right when
 * m ≥ n) and stored in the state; nothing later infers it from a tensor's shape. The base transform's state has the
 * shape of R: r × max(m, n) per moment for `"std"`, plus the projector, r × min(m, n). The subspace is refreshed when
 * the update count is a multiple of `updateProjGap` (steps 0, T, 2T, ...); between refreshes P is constant.
 *
 * Beyond the original: a refresh whose gradient or SVD is not finite, or whose SVD fails, keeps the previous
 * projector (and says so once); with `rotateMoments` the base's Adam moments are carried into the new subspace at a
 * refresh (GaLore issue #54): M ← C·M and V ← (C⊙C)·V with C = P_newᵀ P_old (left side; mirrored for right), i.e.
 * the first moment rotated exactly and the second as the variance of the rotated coordinates under independence.
 *
 * Note that with full rank GaLore is NOT the base optimizer: Adam in the rotated (singular-vector) basis differs
 * from Adam; only a rotation-invariant base (SGD) gives the same trajectory.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads, Params } from "../nn/params.ts";
import { addDecayedWeights, defaultDecayMask, scaleByAdam, scaleByLearningRate } from "../optim/adam.ts";
import type { Schedule } from "../optim/schedule.ts";
import { chain, disposeState, type GradientTransform, type UpdateExtras } from "../optim/transform.ts";
import type { LapackDriver, Side } from "./lapack.ts";
import { type ResolvedSvd, resolveSvd, type SubspaceFinder, type SvdMethod } from "./subspace.ts";

/** How the projected side is chosen: GaLore's `proj_type` values for one-sided projection. */
export type ProjType = "std" | "reverse_std" | "left" | "right";

const PROJ_TYPES: readonly ProjType[] = ["std", "reverse_std", "left", "right"];

/** One projected parameter's projector, stored in the state with its side. */
export interface GaloreProjection {
  /** Which side of the m × n weight is projected; fixed at `init`. */
  readonly side: Side;
  /** The rank r. */
  readonly rank: number;
  /** The projector: `[m, r]` (orthonormal columns) for `"left"`, `[r, n]` (orthonormal rows) for `"right"`. */
  readonly p: tf.Tensor2D;
  /** The update count of the last successful refresh; -1 while P is still the initial placeholder (`I[:, :r]`). */
  readonly refreshedAt: number;
}

/** State of {@linkcode scaleByGalore}. */
export interface ScaleByGaloreState<S = unknown> {
  /** Updates done so far. */
  readonly count: number;
  /** The base transform's state, over the projected shapes (r × n or m × r) and the unprojected parameters. */
  readonly base: S;
  /** The projected parameters' projectors, by parameter name. */
  readonly proj: Readonly<Record<string, GaloreProjection>>;
}

/** What {@linkcode ScaleByGaloreOptions.onRefresh} gets at each refresh. */
export interface RefreshEvent {
  /** The update count (0, T, 2T, ...). */
  step: number;
  /** Wall time of finding all projectors (gradient download, SVDs, upload), ms. */
  ms: number;
  /** Which finder ran. */
  method: ResolvedSvd["method"];
  /** Projected parameters in this update (all of them, or 1 when the step runs parameter by parameter). */
  params: number;
  /** Parameters whose refresh failed and that kept their previous projector, with the reason. */
  kept: { name: string; reason: string }[];
}

/** Options for {@linkcode scaleByGalore}. */
export interface ScaleByGaloreOptions<S = unknown> {
  /** Rank r of the projection, >= 1 and at most the projected side of every selected weight. @default {128} */
  rank?: number;
  /** Refresh gap T: the subspace is recomputed at update counts 0, T, 2T, ... @default {200} */
  updateProjGap?: number;
  /** α, multiplying the projected-back update (not the unprojected parameters'), > 0. @default {0.25} */
  scale?: number;
  /** Which side to project. @default {"std"} (the smaller dimension; right when m >= n) */
  projType?: ProjType;
  /** The transform run on the projected gradients (and on the unprojected parameters). @default {scaleByAdam()} */
  base?: GradientTransform<S>;
  /**
   * Which parameters are projected, by name and shape. @default {defaultGaloreInclude} (2-D weights whose name
   * contains "attn" or "mlp", as the original's training script)
   */
  include?: (name: string, shape: readonly number[]) => boolean;
  /** The subspace finder: `"auto"` (LAPACK when it loads, else randomized), `"lapack"`, `"randomized"`, or a function. @default {"auto"} */
  svd?: SvdMethod | SubspaceFinder;
  /** LAPACK driver tried first (`"gesdd"` falls back to `"gesvd"` on non-convergence). @default {"gesdd"} */
  lapackDriver?: LapackDriver;
  /** Randomized finder: oversampling. @default {8} */
  oversample?: number;
  /** Randomized finder: power iterations. @default {2} */
  powerIters?: number;
  /** Randomized finder: seed of the test matrices. @default {0} */
  seed?: number;
  /** Rotate the base's Adam moments (`mu`, `nu`) into the new subspace at a refresh (GaLore issue #54). @default {false} */
  rotateMoments?: boolean;
  /**
   * Called after each refresh, by an update that projects at least one parameter: once per refresh step for the
   * whole set, once per projected parameter when the step runs parameter by parameter (in place, in backward).
   */
  onRefresh?: (event: RefreshEvent) => void;
  /** Where the one-time warning about a failed refresh goes. @default {console.warn} */
  warn?: (message: string) => void;
}

/** A GaLore transform: a {@linkcode GradientTransform} that also says which SVD it uses. */
export interface GaloreTransform<S> extends GradientTransform<S> {
  /** The subspace finder in use and a one-line description (e.g. "LAPACK sgesdd from libopenblas.so.0"). */
  readonly svd: { readonly method: ResolvedSvd["method"]; readonly detail: string };
}

/**
 * The default choice of projected parameters: 2-D weights whose name contains `"attn"` or `"mlp"` (attention and
 * MLP weights; embeddings, the output head, norms and biases are not projected), as in GaLore's training script.
 *
 * @param name The parameter's path.
 * @param shape Its shape.
 * @returns Whether it is projected.
 *
 * @example Usage
 * ```ts
 * import { defaultGaloreInclude } from "./galore.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultGaloreInclude("blocks.0.attn.qkv.w", [256, 768]), true);
 * assert.equal(defaultGaloreInclude("blocks.0.attn.qkv.b", [768]), false);
 * assert.equal(defaultGaloreInclude("embed.wte", [89, 256]), false);
 * ```
 */
export function defaultGaloreInclude(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && /attn|mlp/.test(name);
}

/**
 * The side `projType` picks for an m × n weight: `"std"` projects the smaller dimension (right when m >= n, as the
 * original), `"reverse_std"` the larger, `"left"`/`"right"` always that side.
 *
 * @example Usage
 * ```ts
 * import { projectionSide } from "./galore.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(projectionSide([256, 768], "std"), "left");   // P: 256 × r, moments r × 768
 * assert.equal(projectionSide([1024, 256], "std"), "right"); // P: r × 256, moments 1024 × r
 * assert.equal(projectionSide([256, 256], "std"), "right");
 * ```
 */
export function projectionSide(shape: readonly number[], projType: ProjType): Side {
  const [m, n] = shape;
  switch (projType) {
    case "std":
      return m >= n ? "right" : "left";
    case "reverse_std":
      return m >= n ? "left" : "right";
    default:
      return projType;
  }
}

/**
 * The shape of the projected gradient R of an m × n weight: `[r, n]` for the left side, `[m, r]` for the right.
 *
 * @example Usage
 * ```ts
 * import { projectedShape } from "./galore.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(projectedShape([256, 1024], "left", 64), [64, 1024]);
 * ```
 */
export function projectedShape(shape: readonly number[], side: Side, rank: number): [number, number] {
  return side === "left" ? [rank, shape[1]] : [shape[0], rank];
}

/** R = PᵀG (left) or G·Pᵀ (right). */
function project(g: tf.Tensor, p: tf.Tensor2D, side: Side): tf.Tensor2D {
  return side === "left" ? tf.matMul(p, g as tf.Tensor2D, true, false) : tf.matMul(g as tf.Tensor2D, p, false, true);
}

/** P·N (left) or N·P (right). */
function projectBack(n: tf.Tensor, p: tf.Tensor2D, side: Side): tf.Tensor2D {
  return side === "left" ? tf.matMul(p, n as tf.Tensor2D) : tf.matMul(n as tf.Tensor2D, p);
}

function fail(fn: string, name: string, what: string, value: unknown, Err: typeof RangeError = RangeError): never {
  throw new Err(`Cannot create ${fn}: '${name}' must be ${what}: current value is ${show(value)}`);
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : typeof value === "function" ? "a function" : String(value);
}

function isTransform(t: unknown): t is GradientTransform<unknown> {
  return t !== null && typeof t === "object" && typeof (t as GradientTransform<unknown>).init === "function" &&
    typeof (t as GradientTransform<unknown>).update === "function";
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** A map of tensors keyed by parameter name inside the base state, as scaleByAdam's `mu` and `nu`. */
type Moments = { mu: Params; nu: Params };

function hasMoments(s: unknown, keys: readonly string[]): s is Moments {
  const m = s as Partial<Moments> | null;
  return m !== null && typeof m === "object" && typeof m.mu === "object" && typeof m.nu === "object" &&
    keys.every((k) => m.mu![k] instanceof tf.Tensor && m.nu![k] instanceof tf.Tensor);
}

/**
 * GaLore's gradient transform: projects each selected 2-D gradient onto a rank-r subspace (refreshed every
 * `updateProjGap` updates from the top-r singular vectors of the current gradient), runs `base` on the projected
 * gradients together with the unprojected parameters' gradients, and projects the base's output back, times
 * `scale`. Place weight decay and the learning rate after it (see {@linkcode galore}); `base` gets no `params`
 * (their shapes differ from the projected ones).
 *
 * @param options Rank, refresh gap, scale, side rule, base transform, parameter choice, SVD, moment rotation.
 * @returns A transform with state {@linkcode ScaleByGaloreState} and the resolved `svd`.
 * @throws {RangeError} for a rank < 1, a gap < 1, a non-positive scale, an unknown `projType` or `svd` name, or
 * `svd: "lapack"` without LAPACK; in `init`, a rank above the projected side of a selected weight (naming the
 * value and the parameter); {TypeError} for wrong types, a selected parameter that is not 2-D, or `rotateMoments`
 * with a base whose state has no `mu`/`nu` maps.
 *
 * @example One step on a 4 × 6 weight (rank 2: Adam moments of shape 2 × 6)
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { scaleByGalore } from "./galore.ts";
 * import { disposeState } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { "mlp.w": tf.randomNormal([4, 6], 0, 1, "float32", 1) };
 * const t = scaleByGalore({ rank: 2, svd: "randomized" });
 * const s0 = t.init(params);
 * assert.deepEqual(s0.proj["mlp.w"].p.shape, [4, 2]);
 * const grads = { "mlp.w": tf.randomNormal([4, 6], 0, 1, "float32", 2) };
 * const { updates, state } = t.update(grads, s0);
 * assert.deepEqual(updates["mlp.w"].shape, [4, 6]);
 * assert.deepEqual((state.base as { mu: Record<string, tf.Tensor> }).mu["mlp.w"].shape, [2, 6]);
 * disposeState([params, grads, s0, updates, state]);
 * ```
 */
export function scaleByGalore<S = unknown>(
  options: ScaleByGaloreOptions<S> = {},
): GaloreTransform<ScaleByGaloreState<S>> {
  const fn = "scaleByGalore";
  const rank = options.rank ?? 128;
  if (typeof rank !== "number") fail(fn, "rank", "a number", rank, TypeError);
  if (!Number.isInteger(rank) || rank < 1) fail(fn, "rank", "an integer >= 1", rank);
  const gap = options.updateProjGap ?? 200;
  if (typeof gap !== "number") fail(fn, "updateProjGap", "a number", gap, TypeError);
  if (!Number.isInteger(gap) || gap < 1) fail(fn, "updateProjGap", "an integer >= 1", gap);
  const scale = options.scale ?? 0.25;
  if (typeof scale !== "number") fail(fn, "scale", "a number", scale, TypeError);
  if (!(Number.isFinite(scale) && scale > 0)) fail(fn, "scale", "a positive number", scale);
  const projType = options.projType ?? "std";
  if (!PROJ_TYPES.includes(projType)) fail(fn, "projType", `one of ${PROJ_TYPES.map(show).join(", ")}`, projType);
  const base = (options.base ?? scaleByAdam()) as GradientTransform<S>;
  if (!isTransform(base)) fail(fn, "base", "a GradientTransform", base, TypeError);
  const include = options.include ?? defaultGaloreInclude;
  if (typeof include !== "function") fail(fn, "include", "a function", include, TypeError);
  const rotate = options.rotateMoments ?? false;
  if (typeof rotate !== "boolean") fail(fn, "rotateMoments", "a boolean", rotate, TypeError);
  for (const key of ["oversample", "powerIters"] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) fail(fn, key, "a non-negative integer", v);
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    fail(fn, "seed", "a safe integer", options.seed);
  }
  const svdOption = options.svd ?? "auto";
  if (typeof svdOption !== "function" && typeof svdOption !== "string") {
    fail(fn, "svd", '"auto", "lapack", "randomized" or a function', svdOption, TypeError);
  }
  const svd = resolveSvd(svdOption, options);
  const warn = options.warn ?? ((m: string) => console.warn(m));
  let warned = false;

  return {
    name: fn,
    // Per parameter: each projector, its refresh and its slice of the base state; the update count is one number that
    // every parameter's slice advances alike, so all refresh at the same steps (lib/optim/separable.ts).
    separable: base.separable === true,
    ...(base.separable === true ? {} : { children: [base as GradientTransform<unknown>] }),
    svd: { method: svd.method, detail: svd.detail },
    init(params) {
      const proj: Record<string, GaloreProjection> = {};
      const zeros: Params = {};
      try {
        for (const [k, v] of Object.entries(params)) {
          if (!include(k, v.shape)) continue;
          if (v.rank !== 2) {
            throw new TypeError(
              `Cannot init ${fn}: parameter '${k}' is selected but not 2-D (GaLore projects matrices): current shape ` +
                `is [${v.shape}]`,
            );
          }
          const side = projectionSide(v.shape, projType);
          const [m, n] = v.shape as [number, number];
          const s = side === "left" ? m : n;
          if (rank > s) {
            throw new RangeError(
              `Cannot init ${fn}: 'rank' must be <= ${s}, the projected (${side}) side of parameter '${k}' ` +
                `[${v.shape}]: current value is ${rank}`,
            );
          }
          const p = tf.keep(tf.eye(side === "left" ? s : rank, side === "left" ? rank : s) as tf.Tensor2D);
          proj[k] = { side, rank, p, refreshedAt: -1 };
          zeros[k] = tf.keep(tf.zeros(projectedShape(v.shape, side, rank)));
        }
        const shaped: Params = { ...params, ...zeros };
        const baseState = base.init(shaped);
        const keys = Object.keys(proj);
        if (rotate && !hasMoments(baseState, keys)) {
          disposeState(baseState);
          throw new TypeError(
            `Cannot init ${fn}: 'rotateMoments' needs a base whose state has 'mu' and 'nu' maps (scaleByAdam)`,
          );
        }
        return { count: 0, base: baseState, proj };
      } catch (e) {
        disposeState(proj);
        throw e;
      } finally {
        disposeState(zeros);
      }
    },

    update(grads: Grads, state, _params, extras?: UpdateExtras) {
      const count = (state as Partial<ScaleByGaloreState<S>> | undefined)?.count;
      if (typeof count !== "number" || state.proj === null || typeof state.proj !== "object") {
        throw new TypeError(
          `Cannot update ${fn}: 'state' must hold a numeric 'count' and 'proj' (call init() first): current value is ${
            show(state)
          }`,
        );
      }
      const keys = Object.keys(state.proj);
      for (const k of keys) {
        if (!(grads[k] instanceof tf.Tensor)) {
          throw new TypeError(`Cannot update ${fn}: 'grads' has no entry for '${k}', which the state projects`);
        }
      }
      const refresh = count % gap === 0;
      const made: tf.Tensor[] = [];
      const keep = <T extends tf.Tensor>(t: T): T => {
        made.push(t);
        return tf.keep(t);
      };
      const temps: tf.Tensor[] = [];
      try {
        // 1. The projectors: refreshed at 0, T, 2T, ...; a failed refresh keeps the old one.
        const proj: Record<string, GaloreProjection> = {};
        const kept: RefreshEvent["kept"] = [];
        const t0 = performance.now();
        for (const k of keys) {
          const old = state.proj[k];
          let found: Float32Array | undefined, reason = "";
          if (refresh) {
            [found, reason] = findProjector(svd.find, k, grads[k] as tf.Tensor2D, old, count);
            if (!found) kept.push({ name: k, reason });
          }
          proj[k] = found
            ? { side: old.side, rank: old.rank, p: keep(tf.tensor2d(found, old.p.shape)), refreshedAt: count }
            : { side: old.side, rank: old.rank, p: keep(tf.clone(old.p)), refreshedAt: old.refreshedAt };
        }
        if (refresh && keys.length > 0) {
          if (kept.length > 0 && !warned) {
            warned = true;
            warn(
              `${fn}: the subspace refresh of '${kept[0].name}' at step ${count} failed (${kept[0].reason}); ` +
                `keeping the previous projector${kept.length > 1 ? ` (and for ${kept.length - 1} more)` : ""}. ` +
                "Later failures keep theirs silently (see onRefresh).",
            );
          }
          options.onRefresh?.({
            step: count,
            ms: performance.now() - t0,
            method: svd.method,
            params: keys.length,
            kept,
          });
        }
        // 2. Optionally carry the moments into the new subspaces.
        let baseIn = state.base;
        if (rotate && refresh) {
          const m = state.base as unknown as Moments;
          const mu: Params = { ...m.mu }, nu: Params = { ...m.nu };
          for (const k of keys) {
            const pOld = state.proj[k].p, pNew = proj[k].p;
            if (proj[k].refreshedAt !== count) continue;
            const left = proj[k].side === "left";
            const [cm, cv] = tf.tidy(() => {
              const c = left ? tf.matMul(pNew, pOld, true, false) : tf.matMul(pOld, pNew, false, true); // r × r
              const c2 = tf.square(c);
              return left
                ? [tf.matMul(c, m.mu[k] as tf.Tensor2D), tf.matMul(c2, m.nu[k] as tf.Tensor2D)]
                : [tf.matMul(m.mu[k] as tf.Tensor2D, c), tf.matMul(m.nu[k] as tf.Tensor2D, c2)];
            });
            temps.push(cm, cv);
            mu[k] = cm;
            nu[k] = cv;
          }
          baseIn = { ...(state.base as object), mu, nu } as S;
        }
        // 3. The base on the projected gradients (the others as they are).
        const projected: Grads = {};
        for (const [k, g] of Object.entries(grads)) {
          if (!(k in proj)) projected[k] = g;
          else {
            const r = tf.tidy(() => project(g, proj[k].p, proj[k].side));
            temps.push(r);
            projected[k] = r;
          }
        }
        const r = base.update(projected, baseIn, undefined, extras);
        // 4. Back to the weights' shapes, times α.
        const updates: Grads = {};
        for (const [k, u] of Object.entries(r.updates)) {
          if (!(k in proj)) updates[k] = u;
          else {
            updates[k] = tf.keep(tf.tidy(() => tf.mul(projectBack(u, proj[k].p, proj[k].side), scale)));
            u.dispose();
          }
        }
        return { updates, state: { count: count + 1, base: r.state, proj } };
      } catch (e) {
        tf.dispose(made);
        throw e;
      } finally {
        tf.dispose(temps);
      }
    },
  };
}

/** Runs the finder on one gradient; returns the projector, or `undefined` and why not. */
function findProjector(
  find: SubspaceFinder,
  name: string,
  g: tf.Tensor2D,
  old: GaloreProjection,
  step: number,
): [Float32Array | undefined, string] {
  const data = g.dataSync() as Float32Array;
  if (!allFinite(data)) return [undefined, "the gradient is not finite"];
  let p: Float32Array | undefined;
  try {
    p = find(g, old.rank, old.side, { name, step, data });
  } catch (e) {
    return [undefined, `the finder threw: ${e instanceof Error ? e.message : String(e)}`];
  }
  if (p === undefined) return [undefined, "the SVD did not converge"];
  if (p.length !== old.p.size) return [undefined, `the finder returned ${p.length} values, not ${old.p.size}`];
  if (!allFinite(p)) return [undefined, "the SVD returned non-finite values"];
  return [p, ""];
}

/** Options for {@linkcode galore}: {@linkcode ScaleByGaloreOptions} plus the learning rate, decay and Adam's constants. */
export interface GaloreOptions extends Omit<ScaleByGaloreOptions, "base"> {
  /** Learning rate: a positive number or a schedule. */
  lr: number | Schedule;
  /** Decoupled weight decay, applied to the full weights (not scaled by α). @default {0} (GaLoreAdamW's default) */
  weightDecay?: number;
  /** Which parameters get weight decay. @default {defaultDecayMask} */
  mask?: (name: string, param: tf.Tensor) => boolean;
  /** Adam's first-moment decay. @default {0.9} */
  b1?: number;
  /** Adam's second-moment decay. @default {0.999} */
  b2?: number;
  /** Adam's epsilon. @default {1e-8} */
  eps?: number;
}

/**
 * GaLore-AdamW: `chain(scaleByGalore({ base: scaleByAdam({ b1, b2, eps }) }), addDecayedWeights, scaleByLearningRate)`,
 * the step of the original `GaLoreAdamW` (decoupled weight decay on the full weight, after the projected update).
 * Defaults follow the repository's canonical group: rank 128, T = 200, scale 0.25, `"std"` projection.
 *
 * @param options Learning rate, weight decay, Adam's constants and the GaLore options.
 * @returns The optimizer (its state is `[galore, {}, lr]`) with the resolved `svd`.
 * @throws {RangeError}/{TypeError} as {@linkcode scaleByGalore}, `scaleByAdam`, `addDecayedWeights` and
 * `scaleByLearningRate` do.
 *
 * @example Usage
 * ```ts
 * import { galore } from "./galore.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = galore({ lr: 0.01, rank: 64, updateProjGap: 200 });
 * assert.ok(["lapack", "randomized"].includes(opt.svd.method));
 * assert.throws(() => galore({ lr: 0.01, rank: 0 }), /'rank' must be an integer >= 1: current value is 0/);
 * ```
 */
export function galore(options: GaloreOptions): GaloreTransform<unknown> {
  const { lr, weightDecay = 0, mask = defaultDecayMask, b1, b2, eps, ...rest } = options ?? ({} as GaloreOptions);
  const g = scaleByGalore({ ...rest, base: scaleByAdam({ b1, b2, eps }) });
  const opt = chain(g, addDecayedWeights({ weightDecay, mask }), scaleByLearningRate(lr));
  return {
    name: "galore",
    init: opt.init,
    update: opt.update,
    svd: g.svd,
    ...(opt.separable === undefined ? {} : { separable: opt.separable }),
    ...(opt.children ? { children: opt.children } : {}),
  } as GaloreTransform<unknown>;
}
