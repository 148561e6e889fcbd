/**
 * GaLore as the experiments' command line sees it: a plain optimizer spec (name, options with defaults and help
 * text, `build`) that `experiments/_lib/optimizers.ts` lists, so `--optimizer=galore` works in every standard run.
 * Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import type { Schedule } from "../optim/schedule.ts";
import { galore } from "./galore.ts";

/** GaLore's command-line options (config keys `galoreRank`, `galoreUpdateProjGap`, ... in the experiments). */
const options = z.object({
  rank: z.number().int().min(1).default(128).describe(
    "galore: rank r of the projection (at most the projected side of every attention/MLP weight)",
  ),
  updateProjGap: z.number().int().min(1).default(200).describe("galore: refresh gap T (SVD at steps 0, T, 2T, ...)"),
  scale: z.number().positive().default(0.25).describe("galore: scale α of the projected-back update"),
  projType: z.enum(["std", "reverse_std", "left", "right"]).default("std").describe(
    "galore: projected side (std: the smaller dimension)",
  ),
  svd: z.enum(["auto", "lapack", "randomized"]).default("auto").describe(
    "galore: subspace finder (auto: LAPACK sgesdd when it loads, else randomized subspace iteration)",
  ),
  lapackDriver: z.enum(["gesdd", "gesvd"]).default("gesdd").describe("galore: LAPACK driver tried first"),
  oversample: z.number().int().min(0).default(8).describe("galore: randomized finder's oversampling"),
  powerIters: z.number().int().min(0).default(2).describe("galore: randomized finder's power iterations"),
  rotateMoments: z.boolean().default(false).describe(
    "galore: rotate Adam's moments into the new subspace at a refresh (GaLore issue #54)",
  ),
  seed: z.number().int().default(0).describe("galore: seed of the randomized finder"),
  b1: z.number().min(0).lt(1).default(0.9).describe("galore: Adam's first-moment decay"),
  b2: z.number().min(0).lt(1).default(0.999).describe("galore: Adam's second-moment decay"),
  eps: z.number().min(0).default(1e-8).describe("galore: Adam's epsilon"),
});

/**
 * The GaLore optimizer spec: GaLore-AdamW (`galore()`) with the run's learning rate (schedule) and decoupled weight
 * decay.
 *
 * @example Usage
 * ```ts
 * import { galoreCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = galoreCli.build(galoreCli.options.parse({ rank: 32 }), { lr: 0.01, weightDecay: 0 });
 * assert.equal(typeof opt.update, "function");
 * ```
 */
export const galoreCli = {
  name: "galore",
  description: "GaLore: AdamW on a rank-r projection of each attention/MLP weight gradient",
  weightDecay: "decoupled" as const,
  options,
  build(o: z.infer<typeof options>, run: { lr: number | Schedule; weightDecay: number }) {
    return galore({ ...o, lr: run.lr, weightDecay: run.weightDecay });
  },
};
