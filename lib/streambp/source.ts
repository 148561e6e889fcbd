/**
 * StreamBP (Luo et al. 2025, arXiv:2506.03077) as a gradient source (seam B): exact backprop for a causal language
 * model, streamed along the sequence.
 *
 * Forward keeps only each block's input (like per-block checkpointing) and runs every block chunk by chunk, so no
 * `[B, H, T, T]` attention tensor exists even in forward. The head and loss then run chunk by chunk too (no
 * `[B·T, vocab]` logits), each chunk's backward right after its forward, giving the head's gradients and the final
 * hidden state's gradient. Backward goes block by block from the top; inside a block, chunk by chunk from the last:
 * the chunk's forward is recomputed (queries, residual, norms and MLP for its rows `s..e-1`, keys/values for the
 * prefix `0..e-1`) with the caller's selector, then backpropagated, accumulating the parameter gradients, the input
 * gradient and the prefix's key/value gradient. Each prefix's keys/values are computed once per block pass
 * (`kv: "cache"`, with a key/value gradient accumulator); `kv: "recompute"` recomputes them for every chunk, as the
 * original code does.
 *
 * Every recompute runs with the pass's `{ step, seed }` key and the same tags as plain backprop, so stochastic
 * policies (Mesa's rounding) draw from the key, and Mesa folds a tag's running range once per key however many
 * chunks pack it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { drainDeferred } from "../backend/mod.ts";
import { meter } from "../memory/meter.ts";
import { Context, SavedStore } from "../nn/context.ts";
import type { GradSource, LossAndGrads, PassOptions } from "../nn/grad_source.ts";
import type { Layer } from "../nn/layer.ts";
import type { Batch, Model } from "../nn/model.ts";
import { discardAll, dtypeBytes, keepAll, type PolicySelector } from "../nn/policy.ts";
import { checkChunkSize, type ChunkRange, chunkRanges } from "./chunks.ts";
import { chunkedLoss } from "./head.ts";
import { type KvMode, streamBlockBackward, streamBlockForward } from "./stream_block.ts";
import { type StreamTrunk, streamTrunk } from "./trunk.ts";

/** Options for {@linkcode streamBp}. */
export interface StreamBpOptions {
  /** Rows per sequence chunk in the blocks (need not divide T; 1 and T are allowed). @default {128} */
  chunk?: number;
  /** Positions per chunk of the head and loss (the logits of `B·logitsChunk` positions live at a time). @default {chunk} */
  logitsChunk?: number;
  /**
   * At most this many attention scores (query rows × keys, per sequence and head) in one block chunk: chunks late in a
   * long sequence then get fewer than `chunk` rows, so the attention tensors stop growing with T (`chunkRanges`).
   * 0: every block chunk has `chunk` rows (the paper's fixed chunks). @default {0}
   */
  maxScores?: number;
  /** How a chunk gets its prefix's keys/values: computed once per block pass, or recomputed per chunk. @default {"cache"} */
  kv?: KvMode;
  /** Policy per tensor saved by a chunk's recompute (seam A inside a chunk: Mesa, WTA-CRS). @default {keepAll} */
  selector?: PolicySelector;
}

const KV_MODES: readonly KvMode[] = ["cache", "recompute"];

/** The resolved options of a StreamBP source. */
export interface StreamBpConfig {
  /** Rows per block chunk. */
  readonly chunk: number;
  /** Positions per head/loss chunk. */
  readonly logitsChunk: number;
  /** Prefix key/value mode. */
  readonly kv: KvMode;
  /** The cap on a block chunk's scores (0: none). */
  readonly maxScores: number;
}

/** A StreamBP gradient source (see {@linkcode streamBp}). */
export interface StreamBpSource extends GradSource {
  /** The resolved options. */
  readonly config: StreamBpConfig;
}

function bytesOf(ts: readonly tf.Tensor[]): number {
  return ts.reduce((n, t) => n + t.size * dtypeBytes(t.dtype), 0);
}

/**
 * Creates a StreamBP gradient source: loss and gradients equal plain backprop's (float32 reassociation aside) for
 * any chunk sizes, with activation memory linear in T and nothing of size `T²` or `T·vocab`.
 *
 * @example Exact gradients of a tiny GPT, streamed in chunks of 3 positions
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { streamBp } from "./source.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { backprop } from "../train/backprop.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 });
 * const batch = { x: tf.randomUniform([2, 8], 0, 16, "int32"), y: tf.randomUniform([2, 8], 0, 16, "int32") };
 * const a = streamBp({ chunk: 3 }).lossAndGrads(gpt, batch);
 * const b = backprop().lossAndGrads(gpt, batch);
 * assert.ok(Math.abs(a.loss - b.loss) < 1e-5);
 * const err = tf.tidy(() => tf.max(tf.abs(tf.sub(a.grads["blocks.0.attn.qkv.w"], b.grads["blocks.0.attn.qkv.w"]))));
 * assert.ok(err.dataSync()[0] < 1e-6);
 * ```
 * @throws {RangeError} when `chunk` or `logitsChunk` is not a positive integer, or `kv` is not "cache" or
 * "recompute"; from `lossAndGrads`, a TypeError for a model StreamBP cannot stream (non-causal attention, a head that
 * is not position-wise) or a batch that is not `[B, T]` token ids.
 */
export function streamBp(options: StreamBpOptions = {}): StreamBpSource {
  const config = resolveStreamConfig("StreamBP", options);
  const { chunk, logitsChunk, kv, maxScores } = config;
  const selector = options.selector ?? keepAll;
  const trunkOf = trunkCache();
  return {
    name: `streambp(chunk=${chunk}${logitsChunk === chunk ? "" : `, logits=${logitsChunk}`}${
      maxScores ? `, maxScores=${maxScores}` : ""
    }, kv=${kv})`,
    config,
    lossAndGrads(model: Model, batch: Batch, pass: PassOptions = {}): LossAndGrads {
      return streamedLossAndGrads(trunkOf(model), model, batch, pass, config, selector, (head, hidden, ctx, chunks) => {
        const r = chunkedLoss(head, hidden, batch.y, batch.weights, ctx, { chunks, backward: true });
        return { loss: r.loss, dHidden: r.dHidden! };
      });
    },
  };
}

/**
 * What a streamed pass's objective does with the final hidden state `[B, T, D]`: runs the head on it chunk by chunk
 * (forward-only passes first if it needs them) and returns the loss and `dloss/dhidden` (which the caller owns).
 */
export type HeadObjective = (
  head: Layer,
  hidden: tf.Tensor,
  ctx: Context,
  chunks: readonly ChunkRange[],
) => { loss: number; dHidden: tf.Tensor };

/** Checks a batch's token ids: `[B, T]` int32. */
export function checkTokens(where: string, x: tf.Tensor): void {
  if (x.rank !== 2 || x.dtype !== "int32") {
    throw new TypeError(`${where}: 'x' must be [B, T] int32 token ids: current shape [${x.shape}] ${x.dtype}`);
  }
}

/**
 * One streamed gradient pass: the trunk's forward chunk by chunk keeping only block inputs, the objective on the
 * final hidden state, then the blocks' backward from the top, chunk by chunk, and the stem's. Leaks nothing; on an
 * error frees what it made.
 */
export function streamedLossAndGrads(
  trunk: StreamTrunk,
  model: Model,
  batch: Batch,
  pass: PassOptions,
  config: StreamBpConfig,
  selector: PolicySelector,
  objective: HeadObjective,
): LossAndGrads {
  const { x } = batch;
  checkTokens("StreamBP", x);
  const t = x.shape[1] as number;
  const blockChunks = chunkRanges(t, config.chunk, config.maxScores), headChunks = chunkRanges(t, config.logitsChunk);
  const store = new SavedStore(); // the stem's saved tensors (the token ids)
  const ctx = new Context({
    params: pass.params ?? model.params,
    store,
    selector,
    ...(pass.key ? { key: pass.key } : {}),
  });
  const m = meter();
  const before = m.live;
  const inputs: tf.Tensor[] = []; // each block's input, [B, T, D]
  let h: tf.Tensor | null = null, dh: tf.Tensor | null = null;
  try {
    h = trunk.stem.forward(x, ctx);
    for (const block of trunk.blocks) {
      const next = streamBlockForward(block, h, ctx.child(block.name), blockChunks, config.kv);
      inputs.push(h);
      h = next;
    }
    const forwardBytes = m.live - before;
    const savedBytes = store.bytes() + bytesOf(inputs);
    const head = objective(trunk.head, h, ctx, headChunks);
    h.dispose();
    h = null;
    dh = head.dHidden;
    for (let i = trunk.blocks.length - 1; i >= 0; i--) {
      const block = trunk.blocks[i];
      const dx = streamBlockBackward(block, inputs[i], dh, ctx.child(block.name), blockChunks, config.kv);
      dh.dispose();
      dh = dx;
      inputs.pop()!.dispose();
    }
    trunk.stem.backward(dh, ctx)?.dispose();
    dh.dispose();
    dh = null;
    drainDeferred(); // deferred gradient matmuls finish before the optimizer allocates (as in backprop)
    if (store.size !== 0) {
      throw new Error(`StreamBP: ${store.size} saved tensors were never used by backward (${store.report()[0].tag})`);
    }
    return { loss: head.loss, grads: ctx.grads, savedBytes, forwardBytes };
  } catch (e) {
    store.dispose();
    for (const g of Object.values(ctx.grads)) g.dispose();
    throw e;
  } finally {
    tf.dispose(inputs);
    h?.dispose();
    dh?.dispose();
  }
}

/**
 * The final hidden state `[B, T, D]` of a forward-only streamed pass (nothing saved, no `[B, H, T, T]` tensor), e.g.
 * for a reference model's log-probabilities.
 */
export function streamedHidden(
  trunk: StreamTrunk,
  x: tf.Tensor,
  ctx: Context,
  config: StreamBpConfig,
): tf.Tensor {
  checkTokens("StreamBP", x);
  const chunks = chunkRanges(x.shape[1] as number, config.chunk, config.maxScores);
  const fctx = ctx.withSelector(discardAll).withStore(new SavedStore());
  let h = trunk.stem.forward(x, fctx);
  try {
    for (const block of trunk.blocks) {
      const next = streamBlockForward(block, h, fctx.child(block.name), chunks, config.kv);
      h.dispose();
      h = next;
    }
    return h;
  } catch (e) {
    h.dispose();
    throw e;
  } finally {
    fctx.store.dispose();
  }
}

/** Resolves and checks StreamBP's chunk options. */
export function resolveStreamConfig(where: string, options: StreamBpOptions): StreamBpConfig {
  const chunk = options.chunk ?? 128;
  checkChunkSize(where, "chunk", chunk);
  const logitsChunk = options.logitsChunk ?? chunk;
  checkChunkSize(where, "logitsChunk", logitsChunk);
  const kv = options.kv ?? "cache";
  if (!KV_MODES.includes(kv)) {
    throw new RangeError(`Cannot create ${where}: 'kv' must be "cache" or "recompute": current value is ${kv}`);
  }
  const maxScores = options.maxScores ?? 0;
  if (!Number.isInteger(maxScores) || maxScores < 0) {
    throw new RangeError(
      `Cannot create ${where}: 'maxScores' must be a non-negative integer: current value is ${maxScores}`,
    );
  }
  return Object.freeze({ chunk, logitsChunk, kv, maxScores });
}

/** A per-model cache of {@linkcode streamTrunk}. */
export function trunkCache(): (model: Model) => StreamTrunk {
  const trunks = new WeakMap<Model, StreamTrunk>();
  return (model) => {
    let t = trunks.get(model);
    if (!t) trunks.set(model, t = streamTrunk(model));
    return t;
  };
}
