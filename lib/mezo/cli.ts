/**
 * MeZO as the experiments' command line sees it: a plain technique spec that `experiments/_lib/techniques.ts` lists.
 * It contributes a whole training step (two forward passes and an update) instead of a gradient source and an
 * optimizer. Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import { mezo } from "./step.ts";
import type { NoiseKind } from "./noise.ts";

/** MeZO's command-line options (config keys `mezoLr`, `mezoEps`, ... in the experiments). */
const options = z.object({
  lr: z.number().min(0).default(1e-4).describe("MeZO's learning rate (constant; far below backprop's)"),
  eps: z.number().positive().default(1e-3).describe("MeZO's perturbation scale ε"),
  n: z.number().int().positive().default(1).describe("MeZO's estimates per step (n-SPSA)"),
  weightDecay: z.number().min(0).default(0).describe("MeZO's weight decay (biases and norms are not decayed)"),
  params: z.string().default("all").describe(
    'MeZO\'s parameters: "all", "head", or a name pattern such as "blocks.3" or "blocks.*.attn"',
  ),
});

/**
 * The MeZO technique spec: row names `mezo` (Gaussian z) and `mezo-rademacher`; `build` contributes the training step
 * (seeded with the run's seed). It combines with a model rewrite (`lora+mezo`) but not with a selector, a trunk
 * transform, a gradient source or an optimizer: it saves nothing for a backward and keeps no optimizer state.
 *
 * @example Usage
 * ```ts
 * import { mezoCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = mezoCli.build({ ...mezoCli.variants[""], ...mezoCli.options.parse({}) }, { seed: 0 });
 * assert.equal(parts.step().name, "mezo(gaussian, n=1)");
 * ```
 */
export const mezoCli = {
  name: "mezo",
  description: "MeZO: zeroth-order fine-tuning from two forward passes per step, at inference memory",
  variants: {
    "": { noise: "gaussian" },
    rademacher: { noise: "rademacher" },
  } as Readonly<Record<string, { noise: NoiseKind }>>,
  options,
  build(o: { noise: NoiseKind } & z.infer<typeof options>, ctx: { seed: number }) {
    return {
      step: () =>
        mezo({
          lr: o.lr,
          eps: o.eps,
          n: o.n,
          weightDecay: o.weightDecay,
          noise: o.noise,
          params: o.params,
          seed: ctx.seed,
        }),
    };
  },
};
