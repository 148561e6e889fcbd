/**
 * StreamBP as the experiments' command line sees it: a plain technique spec (row names `streambp` and
 * `streambp-recompute`, chunk options with defaults and help text) that `experiments/_lib/techniques.ts` lists.
 * Nothing here imports the experiments.
 * @module
 */
import { z } from "zod";
import type { PolicySelector, TrunkTransform } from "../nn/mod.ts";
import { type KvMode, streamBp } from "./mod.ts";

/** StreamBP's command-line options (config keys `streambpChunk`, `streambpLogitsChunk`, `streambpMaxScores`). */
const options = z.object({
  chunk: z.number().int().positive().default(128).describe("StreamBP's rows per sequence chunk in the blocks"),
  logitsChunk: z.number().int().nonnegative().default(0).describe(
    "StreamBP's positions per chunk of the LM head and loss (0: the block chunk)",
  ),
  maxScores: z.number().int().nonnegative().default(0).describe(
    "StreamBP's cap on a block chunk's attention scores, rows x keys (0: fixed chunks)",
  ),
});

/**
 * The StreamBP technique spec: `streambp` computes each prefix's keys/values once per block pass, and
 * `streambp-recompute` recomputes them for every chunk (the original code's way); `build` contributes the gradient
 * source (seam B), which runs the combination's selector inside each chunk. It cannot be combined with a trunk
 * transform (StreamBP already keeps only the block inputs), and it trains causal language models only (`models`).
 *
 * @example Usage
 * ```ts
 * import { streambpCli } from "./cli.ts";
 * import { keepAll } from "../nn/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const parts = streambpCli.build({ ...streambpCli.variants[""], ...streambpCli.options.parse({ chunk: 64 }) }, { seed: 0 });
 * assert.equal(parts.source({ selector: keepAll }).name, "streambp(chunk=64, kv=cache)");
 * ```
 */
export const streambpCli = {
  name: "streambp",
  description: "StreamBP: exact backprop streamed along the sequence (block inputs kept, chunked blocks and LM head)",
  variants: {
    "": { kv: "cache" },
    recompute: { kv: "recompute" },
  } as Readonly<Record<string, { kv: KvMode }>>,
  options,
  models: ["gpt"] as readonly string[],
  build(o: { kv: KvMode } & z.infer<typeof options>, _ctx: { seed: number }) {
    const logitsChunk = o.logitsChunk === 0 ? o.chunk : o.logitsChunk;
    const make = (selector?: PolicySelector) =>
      streamBp({ chunk: o.chunk, logitsChunk, kv: o.kv, maxScores: o.maxScores, ...(selector ? { selector } : {}) });
    make(); // validates the options now, not at the first step
    return {
      source: (seams: { selector: PolicySelector; trunk?: TrunkTransform }) => {
        if (seams.trunk !== undefined) {
          throw new TypeError(
            "Cannot combine StreamBP with a trunk transform (checkpointing): StreamBP already keeps only each " +
              "block's input and recomputes the blocks chunk by chunk",
          );
        }
        return make(seams.selector);
      },
    };
  },
};
