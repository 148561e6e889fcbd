/**
 * memtrain: train Transformers with far less memory, in Deno, on TensorFlow.js.
 *
 * Layers have explicit forward and backward passes; everything a forward keeps for its backward goes through an
 * {@linkcode ActivationPolicy} (seam A: checkpointing, Mesa, WTA-CRS), gradients come from a {@linkcode GradSource}
 * (seam B: backprop, StreamBP, MeZO), and optimizers are `{init, update}` transforms composed with `chain`
 * (seam C: AdamW, SGD, GaLore).
 *
 * @example Train a tiny GPT for a few steps
 * ```ts ignore
 * import { adamw, countTask, createGpt, GPT_PRESETS, initBackend, Rng, tokenBatch, Trainer } from "./mod.ts";
 *
 * await initBackend();                      // wasm (or OpenBLAS-backed matmuls when libopenblas is installed)
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }) });
 * const rng = new Rng(0);
 * for (let i = 0; i < 50; i++) {
 *   const batch = tokenBatch(countTask(rng, { batch: 8, context: 32, vocab: 16 }), 8, 32);
 *   console.log(trainer.step(batch).loss);
 * }
 * ```
 * @module
 */
export * from "./lib/backend/mod.ts";
export * from "./lib/memory/mod.ts";
export * from "./lib/nn/mod.ts";
export * from "./lib/models/mod.ts";
export * from "./lib/optim/mod.ts";
export * from "./lib/train/mod.ts";
export * from "./lib/data/mod.ts";
export * from "./lib/checkpoint/mod.ts";
export * from "./lib/viz/mod.ts";
export * from "./lib/mesa/mod.ts";
export {
  chunkedLoss,
  type ChunkedLossOptions,
  type ChunkedLossResult,
  type ChunkRange,
  chunkRanges,
  type KvMode,
  lossDenominator,
  streamBp,
  type StreamBpConfig,
  type StreamBpOptions,
  type StreamBpSource,
  streamDpo,
  type StreamDpoOptions,
  type StreamDpoSource,
} from "./lib/streambp/mod.ts";
