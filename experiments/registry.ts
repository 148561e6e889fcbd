/**
 * The experiments `deno task experiment <name>` can run, by name.
 *
 * To register one: write `experiments/<name>.ts` that exports `defineExperiment({ name: "<name>", ... })` (see
 * `experiments/_lib/experiment.ts`), then add one import and one entry below. The key must equal the experiment's
 * `name` (tests/experiments/registry_test.ts checks this).
 *
 * ```ts ignore
 * import { baseline } from "./baseline.ts";
 * export const experiments: Registry = { baseline };
 * ```
 * @module
 */
import type { Registry } from "./_lib/experiment.ts";
import { baseline } from "./baseline.ts";
import { galoreExperiment } from "./galore.ts";
import { guardCost } from "./guard_cost.ts";
import { memory } from "./memory.ts";
import { mesa } from "./mesa.ts";
import { mesaRanges } from "./mesa_ranges.ts";
import { mezoExperiment } from "./mezo.ts";
import { quickstart } from "./quickstart.ts";
import { soak } from "./soak.ts";
import { stepTimeline } from "./step_timeline.ts";
import { streambp } from "./streambp.ts";
import { wtacrs } from "./wtacrs.ts";

/** Registered experiments, name → experiment. One import plus one entry per experiment. */
export const experiments: Registry = {
  baseline,
  galore: galoreExperiment,
  "guard-cost": guardCost,
  memory,
  mesa,
  "mesa-ranges": mesaRanges,
  mezo: mezoExperiment,
  quickstart,
  soak,
  "step-timeline": stepTimeline,
  streambp,
  wtacrs,
};
