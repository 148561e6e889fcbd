/**
 * How the optimizer's update is applied, as the experiments' command line sees it: a plain technique spec (name, named
 * update modes, no tunable options) that `experiments/_lib/techniques.ts` lists. Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import type { UpdateMode } from "./trainer.ts";

/**
 * The update technique spec: `update-in-backward` updates each parameter as soon as its gradient is final in backward
 * (`Trainer({ update: "in-backward" })`); `update-whole-set` builds every update before a parameter is replaced (the
 * step as it was before the in-place update, for comparisons). Rows without it use the in-place step
 * (`"per-param"`). `build` contributes the update mode (the optimizer-side part of a row).
 *
 * @example Usage
 * ```ts
 * import { updateCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = updateCli.build({ ...updateCli.variants["in-backward"], ...updateCli.options.parse({}) }, { seed: 0 });
 * assert.equal(parts.update, "in-backward");
 * ```
 */
export const updateCli = {
  name: "update",
  description: "how the optimizer applies updates: in backward as each gradient is final, or the whole set at once",
  variants: {
    "in-backward": { mode: "in-backward" },
    "whole-set": { mode: "whole-set" },
  } as Readonly<Record<string, { mode: UpdateMode }>>,
  options: z.object({}),
  build(options: { mode: UpdateMode }, _ctx: { seed: number }): { update: UpdateMode } {
    return { update: options.mode };
  },
};
