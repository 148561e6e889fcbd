/**
 * GaLore (Zhao et al., ICML 2024, arXiv:2403.03507): Adam on a low-rank projection of each weight gradient, a seam-C
 * {@linkcode GradientTransform} wrapping a base transform. The subspace (top-r singular vectors, refreshed every T
 * updates) comes from LAPACK's `sgesdd` through Deno FFI when it loads, or from randomized subspace iteration in
 * TypeScript; the state holds r × max(m, n) moments and an r × min(m, n) projector per projected weight.
 *
 * @example Train with GaLore
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { galore, galoreStateBytes } from "./mod.ts";
 * import { applyUpdates, disposeState } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * let params = { "mlp.w": tf.randomNormal([16, 32], 0, 1, "float32", 0) };
 * const opt = galore({ lr: 0.05, rank: 4, updateProjGap: 10, scale: 1 });
 * let state = opt.init(params);
 * const loss = (p: typeof params) => tf.tidy(() => tf.sum(tf.square(p["mlp.w"])).dataSync()[0]);
 * const first = loss(params);
 * for (let i = 0; i < 30; i++) {
 *   const grads = { "mlp.w": tf.mul(params["mlp.w"], 2) };
 *   const { updates, state: next } = opt.update(grads, state, params);
 *   disposeState([grads, state]);
 *   state = next;
 *   params = applyUpdates(params, updates);
 * }
 * assert.ok(loss(params) < first);
 * assert.equal(galoreStateBytes(state).projected.moments, 4 * 2 * 4 * 32);
 * disposeState([params, state]);
 * ```
 * @module
 */
export {
  defaultGaloreInclude,
  galore,
  type GaloreOptions,
  type GaloreProjection,
  type GaloreTransform,
  projectedShape,
  projectionSide,
  type ProjType,
  type RefreshEvent,
  scaleByGalore,
  type ScaleByGaloreOptions,
  type ScaleByGaloreState,
} from "./galore.ts";
export {
  type FinderCall,
  type ResolvedSvd,
  resolveSvd,
  type SubspaceFinder,
  type SvdMethod,
  type SvdOptions,
} from "./subspace.ts";
export {
  DEFAULT_LAPACK_CANDIDATES,
  findLapack,
  type FindLapackResult,
  type LapackDriver,
  type LapackLibrary,
  type LapackSubspace,
  lapackSubspace,
  loadLapack,
  type Side,
} from "./lapack.ts";
export { randomizedSubspace, type RandomizedSubspaceOptions } from "./randomized.ts";
export { householderQ } from "./qr.ts";
export { type SymmetricEigen, symmetricEigen } from "./eigh.ts";
export {
  type AnalyticOptions,
  type GaloreStateBytes,
  galoreStateBytes,
  galoreStateBytesAnalytic,
  type GroupBytes,
} from "./memory.ts";
export {
  type Factors,
  lowRankElements,
  lowRankWeights,
  type LowRankWeightsOptions,
  type LowRankWeightsState,
} from "./low_rank.ts";
