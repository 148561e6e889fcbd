/**
 * Mesa as the experiments' command line sees it: a plain technique spec (name, named groupings, options with defaults
 * and help text) that `experiments/_lib/techniques.ts` lists. Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import { type Grouping, mesa } from "./mod.ts";

/** Mesa's command-line options (config keys `mesaEmaDecay`, `mesaOutOfRange`, `mesaRounding` in the experiments). */
const options = z.object({
  emaDecay: z.number().min(0).lt(1).default(0.9).describe("Mesa's EMA decay of the running ranges (0: per-batch)"),
  outOfRange: z.enum(["expand", "clamp"]).default("expand").describe(
    "Mesa's values outside the running range: widen the batch's range (expand) or clamp them",
  ),
  rounding: z.enum(["stochastic", "nearest"]).default("stochastic").describe(
    "Mesa's rounding to 8 bits: stochastic (unbiased) or to nearest",
  ),
});

/**
 * The Mesa technique spec: row names `mesa-per-tensor` and `mesa-head-wise` pick the grouping, the options tune the
 * running ranges and rounding, and `build` contributes the selector (seam A) and frees the running ranges on `dispose`.
 * The rounding noise is seeded with the run's seed.
 *
 * @example Usage
 * ```ts
 * import { mesaCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = mesaCli.build({ ...mesaCli.variants["head-wise"], ...mesaCli.options.parse({}) }, { seed: 0 });
 * assert.equal(parts.selector({ tag: "blocks.0.mlp.fc1.input", role: "linear.input", groupAxis: 1 }).name,
 *   "mesa(head-wise, stochastic)");
 * parts.dispose();
 * ```
 */
export const mesaCli = {
  name: "mesa",
  description: "Mesa: 8-bit saved activations with running (EMA) ranges per group",
  variants: {
    "per-tensor": { grouping: "per-tensor" },
    "head-wise": { grouping: "head-wise" },
  } as Readonly<Record<string, { grouping: Grouping }>>,
  options,
  build(o: { grouping: Grouping } & z.infer<typeof options>, ctx: { seed: number }) {
    const m = mesa({
      grouping: o.grouping,
      seed: ctx.seed,
      emaDecay: o.emaDecay,
      outOfRange: o.outOfRange,
      rounding: o.rounding,
    });
    return { selector: m.selector, stateful: m.state, dispose: () => m.dispose() };
  },
};
