/**
 * A GPT-style causal language model from memtrain layers (nanoGPT's shape: token + position embedding, pre-LN
 * blocks, final LayerNorm, untied output head).
 * @module
 */
import { z } from "zod";
import { TransformerBlock } from "../nn/block.ts";
import { SoftmaxCrossEntropy } from "../nn/cross_entropy.ts";
import { Embedding } from "../nn/embedding.ts";
import { type Layer, prefixed, type SavedSpec } from "../nn/layer.ts";
import { LayerNorm } from "../nn/layernorm.ts";
import { Linear } from "../nn/linear.ts";
import { Sequence } from "../nn/sequence.ts";
import { initParams } from "./init.ts";
import { type Model, trunkSavedSpecs } from "./model.ts";

/** GPT hyperparameters, validated with zod. */
export const GptConfigSchema = z.object({
  /** Vocabulary size V. */
  vocab: z.number().int().positive(),
  /** Maximum sequence length T (the position table's size). */
  context: z.number().int().positive(),
  /** Width D. */
  dim: z.number().int().positive(),
  /** Number of blocks. */
  layers: z.number().int().positive(),
  /** Attention heads (must divide D). */
  heads: z.number().int().positive(),
  /** MLP hidden width as a multiple of D. */
  mlpRatio: z.number().int().positive().default(4),
}).strict();

/** GPT hyperparameters. */
export type GptConfig = z.infer<typeof GptConfigSchema>;

/** Presets: `tiny` for tests and quickstart, `small` for the baselines (vocab is set from the data). */
export const GPT_PRESETS: Record<"tiny" | "small", Omit<GptConfig, "vocab">> = {
  tiny: { context: 32, dim: 64, layers: 2, heads: 4, mlpRatio: 4 },
  small: { context: 128, dim: 256, layers: 4, heads: 4, mlpRatio: 4 },
};

/** A GPT model: its trunk is `[embed, blocks.0 … blocks.{L-1}, head]`. */
export type Gpt = Model<GptConfig>;

/**
 * Creates a GPT with freshly initialized parameters.
 *
 * @example Usage
 * ```ts ignore
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 64 }, { seed: 0 });
 * ```
 * @throws {RangeError} when the config is invalid (the message names the field).
 */
export function createGpt(config: z.input<typeof GptConfigSchema>, options: { seed?: number } = {}): Gpt {
  const parsed = GptConfigSchema.safeParse(config);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new RangeError(`Cannot create GPT: '${i.path.join(".")}' ${i.message.toLowerCase()}`);
  }
  const cfg = parsed.data;
  if (cfg.dim % cfg.heads !== 0) {
    throw new RangeError(`Cannot create GPT: 'heads' must divide dim ${cfg.dim}: current value is ${cfg.heads}`);
  }
  const residStd = 0.02 / Math.sqrt(2 * cfg.layers);
  const layers: Layer[] = [
    new Embedding("embed", cfg.vocab, cfg.context, cfg.dim),
    ...Array.from({ length: cfg.layers }, (_, i) =>
      new TransformerBlock(`blocks.${i}`, {
        dim: cfg.dim,
        heads: cfg.heads,
        mlpDim: cfg.mlpRatio * cfg.dim,
        causal: true,
        residStd,
      })),
    new Sequence("head", [new LayerNorm("ln_f", cfg.dim), new Linear("out", cfg.dim, cfg.vocab)]),
  ];
  const loss = new SoftmaxCrossEntropy();
  const params = initParams(layers.flatMap((l) => prefixed(l.name, l.paramSpecs())), options.seed ?? 0);
  return {
    kind: "gpt",
    config: cfg,
    layers,
    loss,
    params,
    savedSpecs(inputShape: readonly number[], weighted = false): SavedSpec[] {
      return trunkSavedSpecs(layers, loss, inputShape, weighted);
    },
    flopsPerExample(): number {
      const { dim: d, layers: n, context: t, vocab: v, mlpRatio: r } = cfg;
      const perToken = n * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * r * d) + 2 * d * v;
      const attention = n * 2 * 2 * t * t * d; // q·kᵀ and p·v
      return t * perToken + attention;
    },
  };
}
