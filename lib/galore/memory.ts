/**
 * GaLore's optimizer-state bytes, per parameter group: the analytic formula (paper Table 1, in the code's
 * orientation: r·max(m, n) per moment plus r·min(m, n) for the projector per projected weight, 2·m·n for every other
 * parameter under Adam) and the count of a live state's tensors.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  defaultGaloreInclude,
  projectedShape,
  projectionSide,
  type ProjType,
  type ScaleByGaloreState,
} from "./galore.ts";

/** Bytes (and parameter elements) of one group. */
export interface GroupBytes {
  /** Parameters in the group. */
  params: number;
  /** Their elements (weights). */
  elements: number;
  /** Bytes of the base transform's state (Adam's moments). */
  moments: number;
  /** Bytes of the projectors (0 for the unprojected group). */
  projectors: number;
  /** `moments + projectors`. */
  total: number;
}

/** Optimizer-state bytes per group. */
export interface GaloreStateBytes {
  /** The projected weights (attention and MLP matrices by default). */
  projected: GroupBytes;
  /** Everything else (embeddings, head, norms, biases): the base transform on full shapes. */
  unprojected: GroupBytes;
  /** Both groups. */
  total: number;
}

/** Options for {@linkcode galoreStateBytesAnalytic}. */
export interface AnalyticOptions {
  /** The rank r. */
  rank: number;
  /** The side rule. @default {"std"} */
  projType?: ProjType;
  /** Which parameters are projected. @default {defaultGaloreInclude} */
  include?: (name: string, shape: readonly number[]) => boolean;
  /** State tensors per element of the base transform (Adam: 2). @default {2} */
  momentsPerElement?: number;
  /** Bytes per element. @default {4} (float32) */
  bytesPerElement?: number;
}

const group = (): GroupBytes => ({ params: 0, elements: 0, moments: 0, projectors: 0, total: 0 });
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The analytic optimizer-state bytes of GaLore (base Adam) for parameters of the given shapes: per projected
 * m × n weight `momentsPerElement · r · (other side)` plus `r · (projected side)` for P (with `"std"`:
 * 2·r·max(m, n) + r·min(m, n)), and `momentsPerElement · size` for the others. With `include: () => false` it is
 * AdamW's count (2 · every parameter's size).
 *
 * @param shapes Parameter shapes by name.
 * @param options Rank, side rule, selection, moments per element, bytes per element.
 * @returns Bytes per group.
 *
 * @example A 256 × 1024 MLP weight at rank 64, and a bias
 * ```ts
 * import { galoreStateBytesAnalytic } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const b = galoreStateBytesAnalytic({ "mlp.fc1.w": [256, 1024], "mlp.fc1.b": [1024] }, { rank: 64 });
 * assert.equal(b.projected.moments, 4 * 2 * 64 * 1024);
 * assert.equal(b.projected.projectors, 4 * 64 * 256);
 * assert.equal(b.unprojected.moments, 4 * 2 * 1024);
 * ```
 */
export function galoreStateBytesAnalytic(
  shapes: Readonly<Record<string, readonly number[]>>,
  options: AnalyticOptions,
): GaloreStateBytes {
  const { rank, projType = "std", include = defaultGaloreInclude, momentsPerElement = 2, bytesPerElement = 4 } =
    options;
  const bad = (what: string, v: unknown): never => {
    throw new RangeError(`Cannot count GaLore state bytes: ${what}: current value is ${v}`);
  };
  if (!Number.isInteger(rank) || rank < 1) bad("'rank' must be an integer >= 1", rank);
  if (!Number.isInteger(momentsPerElement) || momentsPerElement < 0) {
    bad("'momentsPerElement' must be an integer >= 0", momentsPerElement);
  }
  if (!Number.isInteger(bytesPerElement) || bytesPerElement < 1) {
    bad("'bytesPerElement' must be an integer >= 1", bytesPerElement);
  }
  const projected = group(), unprojected = group();
  for (const [name, shape] of Object.entries(shapes)) {
    const n = size(shape);
    if (shape.length === 2 && include(name, shape)) {
      const side = projectionSide(shape, projType);
      projected.params++;
      projected.elements += n;
      projected.moments += bytesPerElement * momentsPerElement * size(projectedShape(shape, side, rank));
      projected.projectors += bytesPerElement * rank * (side === "left" ? shape[0] : shape[1]);
    } else {
      unprojected.params++;
      unprojected.elements += n;
      unprojected.moments += bytesPerElement * momentsPerElement * n;
    }
  }
  for (const g of [projected, unprojected]) g.total = g.moments + g.projectors;
  return { projected, unprojected, total: projected.total + unprojected.total };
}

function findGaloreState(state: unknown): ScaleByGaloreState | undefined {
  const seen = new Set<unknown>();
  const walk = (x: unknown): ScaleByGaloreState | undefined => {
    if (x === null || typeof x !== "object" || seen.has(x) || x instanceof tf.Tensor) return undefined;
    seen.add(x);
    const s = x as Partial<ScaleByGaloreState>;
    if (typeof s.count === "number" && s.proj !== undefined && "base" in s) return s as ScaleByGaloreState;
    for (const v of Array.isArray(x) ? x : Object.values(x)) {
      const hit = walk(v);
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(state);
}

const bytesOf = (t: tf.Tensor) => t.size * (t.dtype === "bool" ? 1 : 4);

/**
 * The bytes a live GaLore state holds, per group, counting each buffer once: the projectors from `proj`, and the
 * base state's tensors attributed to the parameter whose name keys them (scaleByAdam's `mu[name]`, `nu[name]`);
 * tensors under a projected name count as projected, all others as unprojected. Accepts the state of
 * `scaleByGalore` or of any chain containing it (e.g. `galore()`'s).
 *
 * @param state The optimizer state.
 * @returns Bytes per group (`elements` and `params` count the projected parameters only, from the projectors).
 * @throws {TypeError} when the state holds no GaLore state.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { galore } from "./galore.ts";
 * import { galoreStateBytes, galoreStateBytesAnalytic } from "./memory.ts";
 * import { disposeState } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { "mlp.w": tf.zeros([8, 32]), "head.w": tf.zeros([8, 4]) };
 * const state = galore({ lr: 0.01, rank: 2, svd: "randomized" }).init(params);
 * const measured = galoreStateBytes(state);
 * const analytic = galoreStateBytesAnalytic({ "mlp.w": [8, 32], "head.w": [8, 4] }, { rank: 2 });
 * assert.equal(measured.total, analytic.total);
 * assert.equal(measured.projected.projectors, 4 * 2 * 8);
 * disposeState([params, state]);
 * ```
 */
export function galoreStateBytes(state: unknown): GaloreStateBytes {
  const s = findGaloreState(state);
  if (!s) throw new TypeError("Cannot count GaLore state bytes: the state holds no scaleByGalore state");
  const projected = group(), unprojected = group();
  const buffers = new Set<unknown>();
  const add = (t: tf.Tensor, g: GroupBytes, field: "moments" | "projectors") => {
    if (t.isDisposed || buffers.has(t.dataId)) return;
    buffers.add(t.dataId);
    g[field] += bytesOf(t);
  };
  for (const p of Object.values(s.proj)) {
    projected.params++;
    add(p.p, projected, "projectors");
  }
  const seen = new Set<unknown>();
  const walk = (x: unknown, owner: string | undefined) => {
    if (x instanceof tf.Tensor) {
      add(x, owner !== undefined && owner in s.proj ? projected : unprojected, "moments");
      return;
    }
    if (x === null || typeof x !== "object" || seen.has(x) || ArrayBuffer.isView(x)) return;
    seen.add(x);
    if (Array.isArray(x)) { for (const v of x) walk(v, owner); }
    else for (const [k, v] of Object.entries(x)) walk(v, v instanceof tf.Tensor ? k : owner);
  };
  walk(s.base, undefined);
  for (const g of [projected, unprojected]) g.total = g.moments + g.projectors;
  return { projected, unprojected, total: projected.total + unprojected.total };
}
