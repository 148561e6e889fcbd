/**
 * WTA-CRS as the experiments' command line sees it: a plain technique spec (name, estimators as variants, options with
 * defaults and help text) that `experiments/_lib/techniques.ts` lists. Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import { type Estimator, wtacrs } from "./mod.ts";

/** WTA-CRS's command-line options (config keys `wtacrsRatio`, `wtacrsMinK`, `wtacrsScores` in the experiments). */
const options = z.object({
  ratio: z.number().gt(0).max(1).default(0.3).describe("WTA-CRS's fraction of a Linear input's rows kept, in (0, 1]"),
  minK: z.number().int().min(1).default(10).describe("WTA-CRS's least number of rows kept"),
  scores: z.enum(["cached", "input"]).default("cached").describe(
    "WTA-CRS's sampling weights: ‖x‖ times the last visit's ‖dy‖ when batches carry example ids (cached), or ‖x‖ alone",
  ),
});

/**
 * The WTA-CRS technique spec: row names `wtacrs` (adaptive winners plus reweighted samples), `wtacrs-crs` (no winners)
 * and `wtacrs-topk` (deterministic top-k without reweighting: the biased control) pick the estimator; `build`
 * contributes a selector *wrapper* (seam A) placed at the paper's level 2, whose kept rows are packed with the policy
 * the row's other techniques pick (so `wtacrs+mesa-head-wise` keeps them in 8 bits). Draws are seeded with the run's
 * seed.
 *
 * @example Usage
 * ```ts
 * import { keepAll } from "../nn/mod.ts";
 * import { wtacrsCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = wtacrsCli.build({ ...wtacrsCli.variants[""], ...wtacrsCli.options.parse({}) }, { seed: 0 });
 * assert.equal(parts.wrapSelector(keepAll)({ tag: "blocks.0.mlp.fc1.input", role: "linear.input" }).name,
 *   "wta-crs(0.3)");
 * parts.dispose();
 * ```
 */
export const wtacrsCli = {
  name: "wtacrs",
  description: "WTA-CRS: Linear inputs keep sampled rows (level 2: attention proj, MLP fc1/fc2), unbiased weight grads",
  variants: {
    "": { estimator: "wta-crs" },
    crs: { estimator: "crs" },
    topk: { estimator: "top-k" },
  } as Readonly<Record<string, { estimator: Estimator }>>,
  options,
  build(o: { estimator: Estimator } & z.infer<typeof options>, ctx: { seed: number }) {
    const w = wtacrs({ estimator: o.estimator, ratio: o.ratio, minK: o.minK, scores: o.scores, seed: ctx.seed });
    return { wrapSelector: w.wrap, stateful: w.cache, dispose: () => w.dispose() };
  },
};
