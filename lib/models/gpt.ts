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

/** GPT hyperparameters: the input of {@linkcode createGpt}. */
export interface GptConfig {
  /** Vocabulary size V. */
  vocab: number;
  /** Maximum sequence length T (the position table's size). */
  context: number;
  /** Width D. */
  dim: number;
  /** Number of blocks. */
  layers: number;
  /** Attention heads (must divide D). */
  heads: number;
  /** MLP hidden width as a multiple of D. @default {4} */
  mlpRatio?: number;
}

/** The zod schema {@linkcode createGpt} validates a {@linkcode GptConfig} with (it fills in the defaults). */
export const GptConfigSchema: z.ZodType<Required<GptConfig>, z.ZodTypeDef, GptConfig> = z.object({
  vocab: z.number().int().positive(),
  context: z.number().int().positive(),
  dim: z.number().int().positive(),
  layers: z.number().int().positive(),
  heads: z.number().int().positive(),
  mlpRatio: z.number().int().positive().default(4),
}).strict();

/** Presets: `tiny` for tests and quickstart, `small` for the baselines (vocab is set from the data). */
export const GPT_PRESETS: Record<"tiny" | "small", Required<Omit<GptConfig, "vocab">>> = {
  tiny: { context: 32, dim: 64, layers: 2, heads: 4, mlpRatio: 4 },
  small: { context: 128, dim: 256, layers: 4, heads: 4, mlpRatio: 4 },
};

/** A GPT model: its trunk is `[embed, blocks.0 … blocks.{L-1}, head]`. */
export type Gpt = Model<Required<GptConfig>>;

/**
 * Creates a GPT with freshly initialized parameters.
 *
 * @example Usage
 * ```ts
 * import { createGpt, GPT_PRESETS } from "./gpt.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 64 }, { seed: 0 });
 * assert.deepEqual(gpt.layers.map((l) => l.name), ["embed", "blocks.0", "blocks.1", "head"]);
 * assert.deepEqual(gpt.params["blocks.0.attn.qkv.w"].shape, [64, 192]);
 * assert.throws(() => createGpt({ ...GPT_PRESETS.tiny, vocab: 64, heads: 3 }), RangeError); // 3 does not divide 64
 * ```
 * @throws {RangeError} when the config is invalid (the message names the field).
 */
export function createGpt(config: GptConfig, options: { seed?: number } = {}): Gpt {
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
