/**
 * A fake experiment registry and captured IO for the harness tests.
 * @module
 */
import { z } from "zod";
import { defineExperiment, type Registry } from "../../experiments/_lib/experiment.ts";
import type { MainIO } from "../../experiments/run.ts";

/** A toy experiment whose rows echo its resolved config. */
export const echo = defineExperiment({
  name: "echo",
  description: "Returns its config as one row",
  schema: z.object({
    lr: z.number().positive().default(0.1).describe("learning rate"),
    steps: z.number().int().min(1).default(100),
    verbose: z.boolean().default(false),
    optimizer: z.enum(["adam", "galore", "sgd"]).default("adam"),
    tag: z.string().default("x"),
    dims: z.array(z.number()).default([8, 16]),
    seqLen: z.number().int().default(32),
  }),
  quick: { steps: 2, lr: 0.5 },
  columns: ["lr", "steps", "loss"],
  run: (config, ctx) => {
    ctx.log("echo: running");
    return Promise.resolve([
      {
        technique: config.optimizer,
        model: "toy",
        lr: config.lr,
        steps: config.steps,
        verbose: config.verbose,
        tag: config.tag,
        dims: config.dims.join("x"),
        seqLen: config.seqLen,
        quick: ctx.quick,
        loss: 1 / 3,
        missing: null,
      },
    ]);
  },
});

/** An error the toy "broken" experiment throws, like a missing data set. */
export class DatasetNotFoundError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DatasetNotFoundError";
  }
}

/** A toy experiment that throws. */
export const broken = defineExperiment({
  name: "broken",
  description: "Throws",
  schema: z.object({ kind: z.enum(["dataset", "range"]).default("dataset") }),
  quick: {},
  run: (config) => {
    if (config.kind === "range") throw new RangeError("Cannot train: 'steps' must be positive: current value is 0");
    return Promise.reject(new DatasetNotFoundError("Fashion-MNIST not found: apt-get install dataset-fashion-mnist"));
  },
});

/** A toy experiment that returns malformed rows. */
export const badRows = defineExperiment({
  name: "badRows",
  description: "Returns rows with a nested object",
  schema: z.object({}),
  quick: {},
  run: () => Promise.resolve([{ technique: "t", model: "m", nested: { a: 1 } as unknown as string }]),
});

/** A copy of `echo` registered as "baseline" (for did-you-mean tests). */
export const baseline = defineExperiment({ ...echo, name: "baseline", description: "Baseline stand-in" });

/** The fake registry. */
export const registry: Registry = { echo, baseline, broken, badRows };

/** IO that records lines. */
export interface Captured extends MainIO {
  /** Lines written to `out`. */
  stdout: string[];
  /** Lines written to `err`. */
  stderr: string[];
}

/** Creates IO that records every line. */
export function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => stdout.push(s), err: (s) => stderr.push(s) };
}
