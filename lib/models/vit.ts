/**
 * A ViT classifier from memtrain layers: patch embedding (reshape + matMul), non-causal pre-LN blocks, mean-pool
 * head.
 * @module
 */
import { z } from "zod";
import type { Layer } from "../nn/layer.ts";
import { PatchEmbedding, PoolHead } from "../nn/patch.ts";
import { assembleModel, blockStack, parseModelConfig } from "./_build.ts";
import type { Model } from "../nn/model.ts";

/** ViT hyperparameters: the input of {@linkcode createVit}. */
export interface VitConfig {
  /** Image side length (square images). */
  imageSize: number;
  /** Image channels. */
  channels: number;
  /** Patch side length (must divide imageSize). */
  patch: number;
  /** Width D. */
  dim: number;
  /** Number of blocks. */
  layers: number;
  /** Attention heads (must divide D). */
  heads: number;
  /** MLP hidden width as a multiple of D. @default {4} */
  mlpRatio?: number;
  /** Number of classes. */
  classes: number;
}

/** The zod schema {@linkcode createVit} validates a {@linkcode VitConfig} with (it fills in the defaults). */
export const VitConfigSchema: z.ZodType<Required<VitConfig>, z.ZodTypeDef, VitConfig> = z.object({
  imageSize: z.number().int().positive(),
  channels: z.number().int().positive(),
  patch: z.number().int().positive(),
  dim: z.number().int().positive(),
  layers: z.number().int().positive(),
  heads: z.number().int().positive(),
  mlpRatio: z.number().int().positive().default(4),
  classes: z.number().int().positive(),
}).strict();

/** Presets for 28×28 grey images (Fashion-MNIST). */
export const VIT_PRESETS: Record<"tiny" | "small", Required<VitConfig>> = {
  tiny: { imageSize: 28, channels: 1, patch: 7, dim: 32, layers: 2, heads: 2, mlpRatio: 2, classes: 10 },
  small: { imageSize: 28, channels: 1, patch: 4, dim: 128, layers: 4, heads: 4, mlpRatio: 2, classes: 10 },
};

/** A ViT model: its trunk is `[embed, blocks.0 … blocks.{L-1}, head]`. */
export type Vit = Model<Required<VitConfig>>;

/**
 * Creates a ViT with freshly initialized parameters.
 *
 * @example Usage
 * ```ts
 * import { createVit, VIT_PRESETS } from "./vit.ts";
 * import assert from "node:assert/strict";
 *
 * const vit = createVit(VIT_PRESETS.tiny, { seed: 0 });
 * assert.equal(vit.layers[0].name, "embed");
 * assert.ok(vit.flopsPerExample() > 0);
 * ```
 * @throws {RangeError} when the config is invalid (the message names the field).
 */
export function createVit(config: VitConfig, options: { seed?: number } = {}): Vit {
  const cfg = parseModelConfig("ViT", VitConfigSchema, config);
  if (cfg.imageSize % cfg.patch !== 0) {
    throw new RangeError(
      `Cannot create ViT: 'patch' must divide imageSize ${cfg.imageSize}: current value is ${cfg.patch}`,
    );
  }
  const embed = new PatchEmbedding("embed", cfg.imageSize, cfg.channels, cfg.patch, cfg.dim);
  const layers: Layer[] = [
    embed,
    ...blockStack(cfg, false),
    new PoolHead("head", embed.numPatches, cfg.dim, cfg.classes),
  ];
  return assembleModel("vit", cfg, layers, options.seed ?? 0, () => {
    const { dim: d, layers: n, mlpRatio: r, patch: p, channels: c, classes: k } = cfg;
    const t = embed.numPatches;
    const perToken = 2 * p * p * c * d + n * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * r * d);
    return t * perToken + n * 2 * 2 * t * t * d + 2 * d * k;
  });
}
