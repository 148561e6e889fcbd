/**
 * Models built from memtrain layers: a GPT-style causal LM and a ViT classifier.
 * @module
 */
export { type Batch, type Model } from "./model.ts";
export { createGpt, type Gpt, type GptConfig, GptConfigSchema, GPT_PRESETS } from "./gpt.ts";
export { createVit, type Vit, type VitConfig, VitConfigSchema, VIT_PRESETS } from "./vit.ts";
export { hashSeed, initParams } from "./init.ts";
