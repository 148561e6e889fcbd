/**
 * StreamBP (Luo, Li, Zhao, Li 2025, arXiv:2506.03077): exact backprop streamed along the sequence for long-context
 * training of causal language models. A gradient source (seam B) whose activation memory is linear in the sequence
 * length with a small slope: it keeps each block's input, streams every block and the LM head chunk by chunk, and
 * never holds a `[B, H, T, T]` attention tensor or `[B·T, vocab]` logits.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { streamBp } from "./mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 });
 * const batch = { x: tf.zeros([1, 8], "int32"), y: tf.ones([1, 8], "int32") };
 * const { loss, grads } = streamBp({ chunk: 4 }).lossAndGrads(gpt, batch, { key: { step: 0, seed: 0 } });
 * assert.ok(Number.isFinite(loss));
 * assert.deepEqual(Object.keys(grads).sort(), Object.keys(gpt.params).sort());
 * ```
 * @module
 */
export { type ChunkRange, chunkRanges } from "./chunks.ts";
export { streamDpo, type StreamDpoOptions, type StreamDpoSource } from "./dpo.ts";
export { chunkedLoss, type ChunkedLossOptions, type ChunkedLossResult, lossDenominator } from "./head.ts";
export { type KeyValues, kvBlockBackward, kvBlockForward, kvBlockKeys } from "./kv_block.ts";
export { type KvMode, streamBlockBackward, streamBlockForward } from "./stream_block.ts";
export { streamBp, type StreamBpConfig, type StreamBpOptions, type StreamBpSource } from "./source.ts";
export { type StreamTrunk, streamTrunk } from "./trunk.ts";
