/**
 * Models built from memtrain layers: a GPT-style causal LM and a ViT classifier (the `Model` and `Batch` types they
 * build are in `lib/nn/model.ts`).
 * @module
 */
export { createGpt, type Gpt, GPT_PRESETS, type GptConfig, GptConfigSchema } from "./gpt.ts";
export { createVit, type Vit, VIT_PRESETS, type VitConfig, VitConfigSchema } from "./vit.ts";
export { hashSeed, initParams } from "./init.ts";
