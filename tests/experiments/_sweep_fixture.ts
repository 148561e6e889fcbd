/**
 * A toy sweep for the resume tests, driven by files in its `dir`: each cell appends its index to `dir/runs.log` and
 * touches `dir/started-<i>`; with `dir/fail-<i>` present cell i throws a `NonFiniteError`; with `dir/block-<i>`
 * present it waits until `dir/release` exists. Run as a script it is `experiments/run.ts` with this registry.
 * @module
 */
import { z } from "zod";
import { defineExperiment, type Registry, type Row } from "../../experiments/_lib/experiment.ts";
import { main } from "../../experiments/run.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/** The error a diverging training run throws (the training half defines the real one). */
export class NonFiniteError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteError";
  }
}

/** The toy sweep: `n` cells, rows `{ technique: "t<i>", model: "toy", value: i * scale }`, ratios by `finalize`. */
export const sweepy = defineExperiment({
  name: "sweepy",
  description: "A toy sweep driven by marker files",
  schema: z.object({
    n: z.number().int().min(0).default(5),
    dir: z.string().default("."),
    scale: z.number().default(1),
  }),
  quick: { n: 4 },
  cells: (config) => Array.from({ length: config.n }, (_, i) => ({ i })),
  async runCell(config, cell): Promise<Row[]> {
    const i = cell.i as number, d = config.dir;
    await Deno.writeTextFile(`${d}/runs.log`, `${i}\n`, { append: true });
    await Deno.writeTextFile(`${d}/started-${i}`, "");
    if (await exists(`${d}/fail-${i}`)) throw new NonFiniteError(`loss is NaN at step 3 (cell ${i})`);
    if (await exists(`${d}/block-${i}`)) {
      while (!await exists(`${d}/release`)) await new Promise((r) => setTimeout(r, 20));
    }
    return [{ technique: `t${i}`, model: "toy", value: (i + 1) * config.scale }];
  },
  finalize: (rows) => rows.map((r) => ({ ...r, ratio: (r.value as number) / (rows[0].value as number) })),
  run: () => Promise.reject(new Error("the harness runs cells itself")),
});

/** The registry of the fixture. */
export const sweepRegistry: Registry = { sweepy };

if (import.meta.main) {
  Deno.exit(await main(Deno.args, sweepRegistry, undefined, { workerScript: new URL(import.meta.url).pathname }));
}
