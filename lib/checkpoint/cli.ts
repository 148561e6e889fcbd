/**
 * Gradient checkpointing as the experiments' command line sees it: a plain technique spec (name, named plans, no
 * tunable options) that `experiments/_lib/techniques.ts` lists. Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import { checkpoint, type CheckpointPlan } from "./mod.ts";

/**
 * The checkpointing technique spec: row names `checkpoint-every`, `checkpoint-sqrt` and `checkpoint-every2` pick a
 * plan, and `build` contributes the trunk transform that groups the model's blocks into segments.
 *
 * @example Usage
 * ```ts
 * import { checkpointCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = checkpointCli.build({ ...checkpointCli.variants.sqrt, ...checkpointCli.options.parse({}) }, { seed: 0 });
 * assert.equal(typeof parts.trunk, "function");
 * ```
 */
export const checkpointCli = {
  name: "checkpoint",
  description: "gradient checkpointing: keep segment inputs, recompute each segment's forward in backward",
  variants: {
    every: { plan: "every" },
    sqrt: { plan: "sqrt" },
    every2: { plan: { every: 2 } },
  } as Readonly<Record<string, { plan: CheckpointPlan }>>,
  options: z.object({}),
  build(options: { plan: CheckpointPlan }, _ctx: { seed: number }) {
    return { trunk: checkpoint(options.plan) };
  },
};
