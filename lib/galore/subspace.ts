/**
 * How GaLore finds a projector: the {@linkcode SubspaceFinder} contract and the built-in finders (LAPACK's SVD, or
 * randomized subspace iteration in TypeScript), chosen by {@linkcode resolveSvd}.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { Rng } from "../data/rng.ts";
import { findLapack, type LapackDriver, lapackSubspace, type Side } from "./lapack.ts";
import { randomizedSubspace } from "./randomized.ts";

/** Where a finder is called: the parameter, the step, and the gradient's values (row-major, already on the CPU). */
export interface FinderCall {
  /** The parameter's name. */
  name: string;
  /** The update count at the refresh (0, T, 2T, ...). */
  step: number;
  /** The gradient's values, row-major (`g.dataSync()`, checked finite). */
  data: Float32Array;
}

/**
 * Finds the top-`rank` singular subspace of one side of a 2-D gradient `g` (m × n) and returns it in the projector
 * layout: for `"left"` an `m × rank` row-major matrix with orthonormal columns, for `"right"` a `rank × n` row-major
 * matrix with orthonormal rows. Returning `undefined` (or throwing) means it failed: GaLore then keeps the previous
 * projector. Must not dispose `g`.
 *
 * @example An identity "finder" (projection disabled; for tests)
 * ```ts
 * import type { SubspaceFinder } from "./subspace.ts";
 *
 * const identityFinder: SubspaceFinder = (g, rank, side) => {
 *   const [m, n] = g.shape;
 *   const cols = side === "left" ? rank : n, rows = side === "left" ? m : rank;
 *   const p = new Float32Array(rows * cols);
 *   for (let i = 0; i < Math.min(rows, cols); i++) p[i * cols + i] = 1;
 *   return p;
 * };
 * ```
 */
export type SubspaceFinder = (g: tf.Tensor2D, rank: number, side: Side, call: FinderCall) => Float32Array | undefined;

/** The built-in choices: LAPACK when it loads else randomized (`"auto"`), or one of them explicitly. */
export type SvdMethod = "auto" | "lapack" | "randomized";

/** Options of the built-in finders. */
export interface SvdOptions {
  /** LAPACK driver tried first; `"gesdd"` falls back to `"gesvd"` when it does not converge. @default {"gesdd"} */
  lapackDriver?: LapackDriver;
  /** LAPACK library path. @default {the DEFAULT_LAPACK_CANDIDATES} */
  lapackPath?: string;
  /** Randomized: oversampling. @default {8} */
  oversample?: number;
  /** Randomized: power iterations. @default {2} */
  powerIters?: number;
  /** Randomized: seed of the test matrices (one stream per parameter and step). @default {0} */
  seed?: number;
}

/** A resolved finder and what it is. */
export interface ResolvedSvd {
  /** Which finder runs. */
  readonly method: "lapack" | "randomized" | "custom";
  /** One line: the library and driver, the randomized settings, or why LAPACK was not used. */
  readonly detail: string;
  /** The finder. */
  readonly find: SubspaceFinder;
}

/**
 * Resolves `svd` to a finder. `"auto"` uses LAPACK when a library loads (and says which) and randomized subspace
 * iteration otherwise (and says why); `"lapack"` throws when none loads; a function is used as given.
 *
 * @param svd The method or a custom finder.
 * @param options Driver, library path, randomized settings.
 * @returns The finder with its description.
 * @throws {RangeError} for an unknown method name, or `"lapack"` when no LAPACK library loads.
 *
 * @example Usage
 * ```ts
 * import { resolveSvd } from "./subspace.ts";
 * import assert from "node:assert/strict";
 *
 * const svd = resolveSvd("auto");
 * assert.ok(svd.method === "lapack" || svd.method === "randomized");
 * console.log(svd.detail); // e.g. "LAPACK sgesdd from libopenblas.so.0"
 * assert.equal(resolveSvd("randomized", { powerIters: 1 }).detail, "randomized subspace iteration (oversample 8, 1 power iterations)");
 * ```
 */
export function resolveSvd(svd: SvdMethod | SubspaceFinder, options: SvdOptions = {}): ResolvedSvd {
  if (typeof svd === "function") return { method: "custom", detail: "custom finder", find: svd };
  if (svd !== "auto" && svd !== "lapack" && svd !== "randomized") {
    throw new RangeError(
      `Cannot resolve the SVD: 'svd' must be "auto", "lapack", "randomized" or a function: current value is ${
        JSON.stringify(svd)
      }`,
    );
  }
  if (svd !== "randomized") {
    const { lib, failures } = findLapack(options.lapackPath);
    if (lib) {
      const driver = options.lapackDriver ?? "gesdd";
      return {
        method: "lapack",
        detail: `LAPACK s${driver} from ${lib.path}`,
        find: (_g, rank, side, call) => {
          const [m, n] = _g.shape;
          let r = lapackSubspace(lib, call.data, m, n, rank, side, driver);
          if (r.info !== 0 && driver === "gesdd") r = lapackSubspace(lib, call.data, m, n, rank, side, "gesvd");
          return r.p;
        },
      };
    }
    const why = failures.map((f) => `${f.path}: ${f.reason}`).join(", ");
    if (svd === "lapack") {
      throw new RangeError(`Cannot use svd: "lapack": no LAPACK library loads (${why})`);
    }
    const r = randomizedFinder(options);
    return { ...r, detail: `${r.detail}; LAPACK not loaded (${summarize(failures)})` };
  }
  return randomizedFinder(options);
}

function summarize(failures: { path: string; reason: string }[]): string {
  const reasons = [...new Set(failures.map((f) => f.reason))];
  return `${failures.length} candidates: ${reasons.join(", ")}`;
}

function randomizedFinder(options: SvdOptions): ResolvedSvd {
  const oversample = options.oversample ?? 8, powerIters = options.powerIters ?? 2;
  const root = new Rng(options.seed ?? 0).fork("galore-omega");
  return {
    method: "randomized",
    detail: `randomized subspace iteration (oversample ${oversample}, ${powerIters} power iterations)`,
    find: (g, rank, side, call) =>
      randomizedSubspace(g, rank, side, { oversample, powerIters, rng: root.fork(call.name).fork(call.step) }),
  };
}
