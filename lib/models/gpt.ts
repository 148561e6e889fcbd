/**
 * A GPT-style causal language model from memtrain layers (nanoGPT's shape: token + position embedding, pre-LN
 * blocks, final LayerNorm, untied output head).
 * @module
 */
import { z } from "zod";
import { Embedding } from "../nn/embedding.ts";
import type { Layer } from "../nn/layer.ts";
import { LayerNorm } from "../nn/layernorm.ts";
import { Linear } from "../nn/linear.ts";
import { Sequence } from "../nn/sequence.ts";
import { assembleModel, blockStack, parseModelConfig } from "./_build.ts";
import type { Model } from "../nn/model.ts";

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
  const cfg = parseModelConfig("GPT", GptConfigSchema, config);
  const layers: Layer[] = [
    new Embedding("embed", cfg.vocab, cfg.context, cfg.dim),
    ...blockStack(cfg, true),
    new Sequence("head", [new LayerNorm("ln_f", cfg.dim), new Linear("out", cfg.dim, cfg.vocab)]),
  ];
  return assembleModel("gpt", cfg, layers, options.seed ?? 0, () => {
    const { dim: d, layers: n, context: t, vocab: v, mlpRatio: r } = cfg;
    const perToken = n * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * r * d) + 2 * d * v;
    const attention = n * 2 * 2 * t * t * d; // q·kᵀ and p·v
    return t * perToken + attention;
  });
}
