/**
 * The optimizer table of the experiments (seam C): a run's optimizer is the config value `optimizer`, resolved here.
 * Each entry has its hyperparameters as options (config keys `<optimizer><Option>`, e.g. `adamwB2`); the learning
 * rate (often a schedule) and the weight decay come from the run. A new optimizer (GaLore) adds one entry to
 * {@linkcode OPTIMIZERS}; its options become config keys through {@linkcode optimizerFields}.
 * @module
 */
import { z } from "zod";
import { galoreCli } from "../../lib/galore/cli.ts";
import { adam, adamw, type GradientTransform, type Schedule, sgd } from "../../lib/optim/mod.ts";
import {
  prefixedFields,
  type PrefixedShape,
  readPrefixed,
  type ShapeOf,
  type UnionToIntersection,
} from "./prefixed.ts";

/** What the run decides for every optimizer: the learning rate and the weight decay. */
export interface OptimizerRun {
  /** Learning rate: a number or a schedule. */
  lr: number | Schedule;
  /** Weight decay (decoupled for adamw, L2 for sgd; adam has none, so it must be 0). */
  weightDecay: number;
  /** The config key the weight decay came from, for messages. @default {"weightDecay"} */
  weightDecayKey?: string;
}

/**
 * An optimizer's command-line spec: a plain object, checked with `satisfies` in {@linkcode OPTIMIZERS}.
 *
 * @example An entry
 * ```ts
 * import { z } from "zod";
 * import { sgd } from "../../lib/optim/mod.ts";
 * import type { OptimizerCli } from "./optimizers.ts";
 *
 * const plainSgd = {
 *   name: "plain-sgd",
 *   description: "SGD without momentum",
 *   weightDecay: "l2",
 *   options: z.object({}),
 *   build: (_o, run) => sgd({ lr: run.lr, weightDecay: run.weightDecay }),
 * } satisfies OptimizerCli;
 * ```
 */
export interface OptimizerCli {
  /** The value of the `optimizer` config key. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** How it applies the run's weight decay; `"none"` means the run's weight decay must be 0. */
  readonly weightDecay: "decoupled" | "l2" | "none";
  /** Its hyperparameters, each with a default and a `.describe()` text. */
  // deno-lint-ignore no-explicit-any
  readonly options: z.ZodObject<z.ZodRawShape, any, any>;
  /** Builds the transform from the parsed options and the run's learning rate and weight decay. */
  // deno-lint-ignore no-explicit-any
  build(options: Record<string, any>, run: OptimizerRun): GradientTransform<unknown>;
}

const adamOptions = (label: string) =>
  z.object({
    b1: z.number().min(0).lt(1).default(0.9).describe(`${label}: decay rate of the first moment`),
    b2: z.number().min(0).lt(1).default(0.999).describe(`${label}: decay rate of the second moment`),
    eps: z.number().min(0).default(1e-8).describe(`${label}: added to the root of the second moment`),
  });

/** The optimizers a run can use, by `optimizer` config value (the key equals the entry's `name`). The first is the default. */
export const OPTIMIZERS = {
  adamw: {
    name: "adamw",
    description: "Adam with decoupled weight decay",
    weightDecay: "decoupled",
    options: adamOptions("adamw"),
    build: (o, run) => adamw({ lr: run.lr, weightDecay: run.weightDecay, b1: o.b1, b2: o.b2, eps: o.eps }),
  },
  adam: {
    name: "adam",
    description: "Adam without weight decay",
    weightDecay: "none",
    options: adamOptions("adam"),
    build: (o, run) => adam({ lr: run.lr, b1: o.b1, b2: o.b2, eps: o.eps }),
  },
  sgd: {
    name: "sgd",
    description: "SGD with optional (Nesterov) momentum and L2 weight decay",
    weightDecay: "l2",
    options: z.object({
      momentum: z.number().min(0).lt(1).default(0).describe("sgd: momentum (0: plain SGD, no state)"),
      nesterov: z.boolean().default(false).describe("sgd: Nesterov momentum (needs momentum > 0)"),
    }),
    build: (o, run) => sgd({ lr: run.lr, weightDecay: run.weightDecay, momentum: o.momentum, nesterov: o.nesterov }),
  },
  galore: galoreCli,
} satisfies Readonly<Record<string, OptimizerCli>>;

/** A value of the `optimizer` config key. */
export type OptimizerName = keyof typeof OPTIMIZERS;

const ENTRIES: readonly [string, OptimizerCli][] = Object.entries(OPTIMIZERS);
for (const [key, o] of ENTRIES) {
  if (o.name !== key) throw new TypeError(`optimizer table: key "${key}" must equal the entry's name "${o.name}"`);
}

/** The allowed values of the `optimizer` config key, default first. */
export const OPTIMIZER_NAMES = Object.freeze(Object.keys(OPTIMIZERS)) as readonly OptimizerName[];

type FieldsOfOptimizer<K> = K extends OptimizerName ? PrefixedShape<K, ShapeOf<(typeof OPTIMIZERS)[K]["options"]>>
  : never;

/** The config fields of the optimizer choice: `optimizer` and every entry's options as `<optimizer><Option>`. */
export type OptimizerFields =
  & { optimizer: z.ZodDefault<z.ZodEnum<[OptimizerName, ...OptimizerName[]]>> }
  & UnionToIntersection<FieldsOfOptimizer<OptimizerName>>;

/**
 * The config fields of the optimizer choice (spread into an experiment's schema): `optimizer` (an enum of
 * {@linkcode OPTIMIZER_NAMES}, default `adamw`) and every optimizer's options (config keys `<optimizer><Option>`,
 * e.g. `adamwB2`, `sgdMomentum`).
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { optimizerFields } from "./optimizers.ts";
 * z.object(optimizerFields()).parse({}).optimizer; // "adamw"
 * ```
 */
export function optimizerFields(): OptimizerFields {
  const names = OPTIMIZER_NAMES as [OptimizerName, ...OptimizerName[]];
  const fields: Record<string, z.ZodTypeAny> = {
    optimizer: z.enum(names).default(names[0]).describe(
      `optimizer: ${ENTRIES.map(([, o]) => `${o.name} (${o.description})`).join(", ")}`,
    ),
  };
  for (const [key, o] of ENTRIES) Object.assign(fields, prefixedFields(key, o.options, o.name));
  return fields as OptimizerFields;
}

/**
 * The optimizer a config names (`config.optimizer`, default `adamw`), with its options from the config's
 * `<optimizer><Option>` keys (missing keys take the defaults) and the run's learning rate and weight decay.
 *
 * @throws {RangeError} for an unknown optimizer (the message lists the allowed values), a bad option value, or a
 * non-zero weight decay for an optimizer without one.
 *
 * @example Usage
 * ```ts
 * import { buildOptimizer } from "./optimizers.ts";
 * import assert from "node:assert/strict";
 *
 * const opt = buildOptimizer({ optimizer: "sgd", sgdMomentum: 0.9 }, { lr: 0.1, weightDecay: 0 });
 * assert.equal((opt.init({}) as unknown[]).length, 2); // momentum, learning rate
 * assert.throws(() => buildOptimizer({ optimizer: "lion" }, { lr: 0.1, weightDecay: 0 }), /"adamw", "adam", "sgd", "galore"/);
 * ```
 */
export function buildOptimizer(
  config: Readonly<Record<string, unknown>>,
  run: OptimizerRun,
): GradientTransform<unknown> {
  const name = config.optimizer ?? OPTIMIZER_NAMES[0];
  const entry = ENTRIES.find(([key]) => key === name)?.[1];
  if (!entry) {
    throw new RangeError(
      `Cannot build optimizer: 'optimizer' must be one of ${
        OPTIMIZER_NAMES.map((n) => JSON.stringify(n)).join(", ")
      }: current value is ${JSON.stringify(name)}`,
    );
  }
  if (entry.weightDecay === "none" && run.weightDecay !== 0) {
    throw new RangeError(
      `Cannot build optimizer "${entry.name}": it has no weight decay, so '${
        run.weightDecayKey ?? "weightDecay"
      }' must be 0 (or use adamw): current value is ${run.weightDecay}`,
    );
  }
  return entry.build(readPrefixed(entry.name, entry.options, config, `optimizer "${entry.name}"`), run);
}
