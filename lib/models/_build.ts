/**
 * Shared construction of memtrain models: config validation, the stack of Transformer blocks, and assembling the
 * {@linkcode Model} record. Private to `lib/models/`.
 * @module
 */
import type { z } from "zod";
import { TransformerBlock } from "../nn/block.ts";
import { SoftmaxCrossEntropy } from "../nn/cross_entropy.ts";
import { type Layer, prefixed, type SavedSpec } from "../nn/layer.ts";
import { initParams } from "./init.ts";
import { type Model, trunkSavedSpecs } from "../nn/model.ts";

/** Parses `config` with `schema`; throws a RangeError naming the field (and checks that heads divide dim). */
export function parseModelConfig<S extends z.ZodTypeAny>(what: string, schema: S, config: unknown): z.infer<S> {
  const parsed = schema.safeParse(config);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    let value: unknown = config;
    for (const k of i.path) value = (value as Record<string | number, unknown> | undefined)?.[k];
    const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
    throw new RangeError(
      `Cannot create ${what}: '${i.path.join(".")}' ${i.message.toLowerCase()}: current value is ${shown}`,
    );
  }
  const cfg = parsed.data as { dim: number; heads: number };
  if (cfg.dim % cfg.heads !== 0) {
    throw new RangeError(`Cannot create ${what}: 'heads' must divide dim ${cfg.dim}: current value is ${cfg.heads}`);
  }
  return parsed.data;
}

/** `blocks.0 … blocks.{L-1}` with GPT-2's 1/sqrt(2L) scaling of the residual projections' init. */
export function blockStack(
  cfg: { dim: number; heads: number; layers: number; mlpRatio: number },
  causal: boolean,
): Layer[] {
  const residStd = 0.02 / Math.sqrt(2 * cfg.layers);
  return Array.from({ length: cfg.layers }, (_, i) =>
    new TransformerBlock(`blocks.${i}`, {
      dim: cfg.dim,
      heads: cfg.heads,
      mlpDim: cfg.mlpRatio * cfg.dim,
      causal,
      residStd,
    }));
}

/** The model record for a trunk: initializes its parameters from `seed`. */
export function assembleModel<C>(
  kind: string,
  config: C,
  layers: Layer[],
  seed: number,
  flops: () => number,
): Model<C> {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot create ${kind}: 'seed' must be a safe integer: current value is ${seed}`);
  }
  const loss = new SoftmaxCrossEntropy();
  const params = initParams(layers.flatMap((l) => prefixed(l.name, l.paramSpecs())), seed);
  return {
    kind,
    config,
    layers,
    loss,
    params,
    savedSpecs(inputShape: readonly number[], weighted = false): SavedSpec[] {
      return trunkSavedSpecs(layers, loss, inputShape, weighted);
    },
    flopsPerExample: flops,
  };
}
