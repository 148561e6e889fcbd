/**
 * The shape of a technique's command-line spec, and the generic composition of what several techniques contribute.
 *
 * A technique folder exports one plain object of this shape (e.g. `lib/mesa/cli.ts`) without importing the
 * experiments; `experiments/_lib/techniques.ts` lists them and checks them with `satisfies`. Composition is generic:
 * the selectors are chained (the first technique of a row that picks a policy other than `keep` for a tensor wins),
 * selector wrappers (WTA-CRS) then wrap that chain whatever their place in the row, and at most one technique may
 * rewrite the trunk, provide the gradient source or wrap the optimizer.
 * @module
 */
import type { z } from "zod";
import {
  type GradSource,
  keepAll,
  keepPolicy,
  type Model,
  type PolicySelector,
  type Stateful,
  type TrainStep,
  type TrunkTransform,
} from "../../lib/nn/mod.ts";
import type { GradientTransform } from "../../lib/optim/mod.ts";
import { backprop, type UpdateMode } from "../../lib/train/mod.ts";

/** What the seams get from one technique; every part is optional. */
export interface TechniqueParts {
  /** Seam A: the policy per saved tensor. Return `keepPolicy` for tensors the technique leaves alone. */
  selector?: PolicySelector;
  /**
   * Seam A: a selector built around the selector of the row's other techniques (`rest`, `keepAll` when none): WTA-CRS
   * samples the rows of the tensors it places and packs them with the policy `rest` picks (so `wtacrs+mesa-head-wise`
   * keeps the sampled rows in 8 bits), leaving the others to `rest`. Wrappers apply outside the chained selectors, in
   * row order (the first is outermost).
   */
  wrapSelector?: (rest: PolicySelector) => PolicySelector;
  /** Seam A: a trunk rewrite (checkpoint segments). At most one per combination. */
  trunk?: TrunkTransform;
  /**
   * Seam B: the gradient source, built from the combination's composed selector and trunk (StreamBP, MeZO). At most
   * one per combination; without one the combination trains with `backprop({ selector, trunk })`.
   */
  source?: (seams: { selector: PolicySelector; trunk?: TrunkTransform }) => GradSource;
  /** Seam C: wraps the run's optimizer (e.g. a projection around it). At most one per combination. */
  optimizer?: (base: GradientTransform<unknown>) => GradientTransform<unknown>;
  /**
   * Rewrites the model before it is trained (LoRA's adapters, freezing the base). At most one per combination; the
   * run disposes the rewritten model's parameters.
   */
  model?: <C>(model: Model<C>) => Model<C>;
  /**
   * The step-level seam: a whole training step (MeZO's two forward passes and update) instead of a gradient source
   * and an optimizer. At most one per combination, and not with a selector, trunk transform, source or optimizer
   * wrapper (a forward-only step saves nothing for backward and keeps no optimizer state).
   */
  step?: () => TrainStep<unknown>;
  /**
   * Seam C, the step side: how the optimizer's updates are applied (`"in-backward"`, `"whole-set"`). At most one per
   * combination; without one the step updates in place (`"per-param"`).
   */
  update?: UpdateMode;
  /**
   * State the technique carries across steps outside parameters and optimizer state (Mesa's running ranges,
   * WTA-CRS's norm cache), saved in training-state checkpoints under the technique's label.
   */
  stateful?: Stateful;
  /** Frees technique state (e.g. Mesa's running ranges). */
  dispose?(): void;
}

/** What a technique's `build` gets besides its options. */
export interface TechniqueBuildContext {
  /** The run's seed (Mesa seeds its rounding noise with it). */
  seed: number;
}

/**
 * A technique's command-line spec: a plain object a technique folder exports (`lib/<technique>/cli.ts`).
 *
 * Row names are `<name>-<variant>` for each key of `variants` (`<name>` alone for the key `""`), joined with `+` to
 * combine techniques. `options` become experiment config keys `<name><Option>` (e.g. `mesaEmaDecay`), with their
 * defaults and `.describe()` text shown by `--help`.
 *
 * @typeParam V The variant data a row name fixes (e.g. `{ grouping: "head-wise" }`), plain JSON.
 *
 * @example A technique spec
 * ```ts
 * import { z } from "zod";
 * import { keepAll } from "../../lib/nn/mod.ts";
 * import type { TechniqueCli } from "./technique_cli.ts";
 *
 * const noop = {
 *   name: "noop",
 *   description: "keeps everything (an example)",
 *   variants: { "": {} },
 *   options: z.object({ level: z.number().int().default(1).describe("how much nothing to do") }),
 *   build: (_o: { level: number }, _ctx: { seed: number }) => ({ selector: keepAll }),
 * } satisfies TechniqueCli;
 * ```
 */
// deno-lint-ignore no-explicit-any
export interface TechniqueCli<V = any> {
  /** The technique's name: the first part of its row names and the prefix of its config keys. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** Row-name suffix → what that row fixes (merged into the options `build` gets). */
  readonly variants: Readonly<Record<string, V>>;
  /** The tunable options, each with a default and a `.describe()` text. */
  // deno-lint-ignore no-explicit-any
  readonly options: z.ZodObject<z.ZodRawShape, any, any>;
  /** The model kinds (`Model.kind`, e.g. `"gpt"`) it can train. @default {every kind} */
  readonly models?: readonly string[];
  /** Builds the technique's parts from the variant's data merged with the parsed options. */
  // deno-lint-ignore no-explicit-any
  build(options: V & Record<string, any>, ctx: TechniqueBuildContext): TechniqueParts;
}

/** A combination of techniques, ready for a run: the composed seams and one `dispose`. */
export interface BuiltTechnique {
  /** The row name it was built for. */
  readonly name: string;
  /** Seam B: the gradient source to train with. */
  readonly source: GradSource;
  /** The composed selector (`keepAll` when no technique selects), for the analytic count. */
  readonly selector: PolicySelector;
  /** The trunk transform (a copy of the layers when no technique rewrites the trunk). */
  readonly trunk: TrunkTransform;
  /** Wraps the run's optimizer (identity when no technique does). */
  optimizer<S>(base: GradientTransform<S>): GradientTransform<unknown>;
  /** The model the run trains (LoRA's rewrite; the model itself when no technique rewrites it). */
  prepare<C>(model: Model<C>): Model<C>;
  /** A whole training step replacing `source` and `optimizer` (MeZO), when a technique provides one. */
  readonly step?: TrainStep<unknown>;
  /** How the step applies the optimizer's updates (`Trainer`'s `update`; `"per-param"` when no technique says). */
  readonly update: UpdateMode;
  /** Every technique's cross-step state, by label (the Trainer's `stateful`: saved and restored with checkpoints). */
  readonly stateful: Readonly<Record<string, Stateful>>;
  /** Frees every technique's state. */
  dispose(): void;
}

/** Chains selectors: the first one that picks a policy other than `keep` for a tensor decides it. */
function chainSelectors(selectors: readonly PolicySelector[]): PolicySelector {
  if (selectors.length === 0) return keepAll;
  if (selectors.length === 1) return selectors[0];
  return (info) => {
    for (const s of selectors) {
      const p = s(info);
      if (p !== keepPolicy) return p;
    }
    return keepPolicy;
  };
}

/** The single part of kind `key` among `parts`, or `undefined`; throws when two techniques provide one. */
function single<K extends "trunk" | "source" | "optimizer" | "model" | "step" | "update">(
  name: string,
  labels: readonly string[],
  parts: readonly TechniqueParts[],
  key: K,
  what: string,
): TechniqueParts[K] | undefined {
  const owners = parts.flatMap((p, i) => (p[key] === undefined ? [] : [i]));
  if (owners.length > 1) {
    throw new TypeError(
      `Cannot combine techniques "${name}": ${
        owners.map((i) => `"${labels[i]}"`).join(" and ")
      } each provide ${what}; ` +
        "a combination may have at most one",
    );
  }
  return owners.length === 0 ? undefined : parts[owners[0]][key];
}

/**
 * Composes the parts of the techniques of one row (in row order) into a {@linkcode BuiltTechnique}. On error, the
 * parts' `dispose` is called before rethrowing.
 *
 * @param name The row name, for messages and {@linkcode BuiltTechnique.name}.
 * @param labels One label per part (the technique names of the row), for messages.
 * @param parts What each technique contributes.
 * @throws {TypeError} when two parts both provide a trunk transform, a gradient source, an optimizer wrapper, a model
 * rewrite, a training step or an update mode, or a training step is combined with a selector, trunk, source,
 * optimizer wrapper or update mode.
 *
 * @example Usage
 * ```ts
 * import { composeTechniques } from "./technique_cli.ts";
 * import assert from "node:assert/strict";
 *
 * const base = composeTechniques("baseline", [], []);
 * assert.equal(base.source.name, "backprop");
 * base.dispose();
 * ```
 */
export function composeTechniques(
  name: string,
  labels: readonly string[],
  parts: readonly TechniqueParts[],
): BuiltTechnique {
  const dispose = () => {
    for (const p of parts) p.dispose?.();
  };
  try {
    const trunk = single(name, labels, parts, "trunk", "a trunk transform");
    const source = single(name, labels, parts, "source", "a gradient source");
    const wrap = single(name, labels, parts, "optimizer", "an optimizer wrapper");
    const update = single(name, labels, parts, "update", "an update mode");
    const rewrite = single(name, labels, parts, "model", "a model rewrite");
    const makeStep = single(name, labels, parts, "step", "a training step");
    const selectors = parts.flatMap((p) => (p.selector ? [p.selector] : []));
    const wraps = parts.some((p) => p.wrapSelector !== undefined);
    if (makeStep && (source || wrap || trunk || update || selectors.length > 0 || wraps)) {
      const owner = labels[parts.findIndex((p) => p.step !== undefined)];
      throw new TypeError(
        `Cannot combine techniques "${name}": "${owner}" provides a whole training step (forward passes only), ` +
          "which leaves nothing for a selector, trunk transform, gradient source, optimizer wrapper or update mode to act on",
      );
    }
    const chained = chainSelectors(selectors);
    const selector = parts.reduceRight<PolicySelector>((s, p) => (p.wrapSelector ? p.wrapSelector(s) : s), chained);
    return {
      name,
      source: source ? source({ selector, ...(trunk ? { trunk } : {}) }) : backprop({ selector, trunk }),
      selector,
      trunk: trunk ?? ((layers) => layers.slice()),
      optimizer: <S>(base: GradientTransform<S>) => (wrap ? wrap(base as GradientTransform<unknown>) : base),
      prepare: <C>(model: Model<C>) => (rewrite ? rewrite(model) : model),
      ...(makeStep ? { step: makeStep() } : {}),
      update: update ?? "per-param",
      stateful: Object.fromEntries(parts.flatMap((p, i) => (p.stateful ? [[labels[i], p.stateful]] : []))),
      dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}
