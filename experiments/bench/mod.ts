/**
 * Benchmark registry for `deno task bench`: each {@linkcode Bench} measures one section (square sgemm, the GPT
 * training step, the step's matmuls alone) on one backend at a time and returns table rows.
 * @module
 */
import type { Bench } from "./common.ts";
import { gptGemmsBench } from "./gpt_gemms.ts";
import { gptStepBench } from "./gpt_step.ts";
import { sgemmBench } from "./sgemm.ts";

export * from "./common.ts";

/** All benchmark sections, in the order they run and print. */
export const benches: Bench[] = [sgemmBench, gptStepBench, gptGemmsBench];
