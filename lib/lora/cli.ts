/**
 * LoRA as the experiments' command line sees it: a plain technique spec that `experiments/_lib/techniques.ts` lists.
 * It rewrites the model (adapters on chosen Linear layers, the base frozen) before the run trains it with the
 * row's other techniques (backprop with an optimizer, or MeZO). Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import type { Model } from "../nn/model.ts";
import { withLora } from "./adapt.ts";

/** LoRA's command-line options (config keys `loraRank`, `loraAlpha`, `loraSeed` in the experiments). */
const options = z.object({
  rank: z.number().int().positive().default(8).describe("LoRA's rank r"),
  alpha: z.number().positive().default(16).describe("LoRA's scale numerator α (updates scaled by α/r)"),
});

/**
 * The LoRA technique spec: row names `lora` (adapters on the attention projections `attn.qkv`, `attn.proj`) and
 * `lora-all` (also on the MLP's `fc1`, `fc2`); `build` contributes the model rewrite, seeded with the run's seed.
 *
 * @example Usage
 * ```ts
 * import { loraCli } from "./cli.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = loraCli.build({ ...loraCli.variants[""], ...loraCli.options.parse({}) }, { seed: 0 });
 * const model = parts.model(createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }));
 * assert.ok("blocks.0.attn.qkv.lora_a" in model.params);
 * ```
 */
export const loraCli = {
  name: "lora",
  description:
    "LoRA: low-rank adapters on chosen Linear layers, base weights frozen (no gradient, state or saved input)",
  variants: {
    "": { targets: ["attn.qkv", "attn.proj"] },
    all: { targets: ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"] },
  } as Readonly<Record<string, { targets: string[] }>>,
  options,
  build(o: { targets: string[] } & z.infer<typeof options>, ctx: { seed: number }) {
    return {
      model: <C>(m: Model<C>): Model<C> =>
        withLora(m, { targets: o.targets, rank: o.rank, alpha: o.alpha, seed: ctx.seed }),
    };
  },
};
