/**
 * Technique registry for the experiments: a name → how to build the gradient source for it. Experiments combine
 * techniques here; the techniques themselves never import each other.
 * @module
 */
import { checkpoint, type CheckpointPlan } from "../../lib/checkpoint/mod.ts";
import { type Grouping, mesa, type OutOfRange } from "../../lib/mesa/mod.ts";
import { type GradSource, keepAll, type PolicySelector, type TrunkTransform } from "../../lib/nn/mod.ts";
import { backprop } from "../../lib/train/mod.ts";

/** A built technique: its gradient source and what to free afterwards. */
export interface BuiltTechnique {
  /** The gradient source to train with. */
  source: GradSource;
  /** The saved-tensor selector it uses (for the analytic count). */
  selector: PolicySelector;
  /** The trunk transform it uses (identity when not checkpointing). */
  trunk: TrunkTransform;
  /** Frees technique state (e.g. Mesa's running ranges). */
  dispose(): void;
}

/** How a technique is specified: optional checkpoint plan and optional Mesa grouping. */
export interface TechniqueSpec {
  /** Checkpoint plan, if any. */
  checkpoint?: CheckpointPlan;
  /** Mesa grouping, if any. */
  mesa?: Grouping;
}

/** The named techniques the memory experiments compare. */
export const TECHNIQUES: Record<string, TechniqueSpec> = {
  baseline: {},
  "checkpoint-every": { checkpoint: "every" },
  "checkpoint-sqrt": { checkpoint: "sqrt" },
  "checkpoint-every2": { checkpoint: { every: 2 } },
  "mesa-per-tensor": { mesa: "per-tensor" },
  "mesa-head-wise": { mesa: "head-wise" },
  "checkpoint-sqrt+mesa-head-wise": { checkpoint: "sqrt", mesa: "head-wise" },
};

/** Options for {@linkcode buildTechnique}. */
export interface BuildOptions {
  /** Seed of Mesa's rounding noise. @default {0} */
  seed?: number;
  /** Mesa's EMA decay of the running ranges (0: each batch's own min/max). @default {0.9} */
  emaDecay?: number;
  /** Mesa's treatment of values outside the running range. @default {"expand"} */
  outOfRange?: OutOfRange;
}

/** Builds the gradient source of a technique spec. */
export function buildTechnique(spec: TechniqueSpec, options: BuildOptions = {}): BuiltTechnique {
  const m = spec.mesa === undefined ? undefined : mesa({
    grouping: spec.mesa,
    seed: options.seed ?? 0,
    emaDecay: options.emaDecay ?? 0.9,
    outOfRange: options.outOfRange ?? "expand",
  });
  const selector = m ? m.selector : keepAll;
  const trunk: TrunkTransform = spec.checkpoint ? checkpoint(spec.checkpoint) : (layers) => layers.slice();
  return { source: backprop({ selector, trunk }), selector, trunk, dispose: () => m?.dispose() };
}
