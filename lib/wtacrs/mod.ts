/**
 * WTA-CRS: Linear layers whose backward keeps a sample of their input's rows (tokens) — the most probable ones
 * deterministically, the rest drawn with replacement and reweighted — so the weight gradient is an unbiased estimate
 * computed from k ≪ N rows, while the forward, the input gradient and the bias gradient stay exact.
 *
 * ```ts ignore
 * import { wtacrs } from "./lib/wtacrs/mod.ts";
 * const w = wtacrs({ ratio: 0.3 }); // level 2: attention output projection and both MLP linears
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 3e-4 }), source: backprop({ selector: w.selector }) });
 * // ... train (batches with `rows: { ids }` let it use the last visit's gradient norms) ...
 * w.dispose();
 * ```
 *
 * References: Liu, Wang et al., "Winner-Take-All Column Row Sampling for Memory Efficient Adaptation of Language
 * Model", NeurIPS 2023, arXiv:2305.15265.
 * @module
 */
export { type Wtacrs, wtacrs, wtacrsLevel2, type WtacrsOptions } from "./select.ts";
export {
  resolveWtacrsOptions,
  type WtacrsPacked,
  type WtacrsPolicy,
  wtacrsPolicy,
  type WtacrsPolicyOptions,
  type WtacrsScores,
} from "./policy.ts";
export { adaptiveWinnerCount, type Estimator, ESTIMATORS, rowBudget, type RowSample, sampleRows } from "./estimator.ts";
export { GradNormCache } from "./norm_cache.ts";
