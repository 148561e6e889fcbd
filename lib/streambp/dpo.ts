/**
 * A sequence-level DPO pair loss (Rafailov et al. 2023) streamed like StreamBP's cross-entropy, with the two-pass
 * chunked scheme of the StreamBP paper (§3.2.1): the loss `−log σ(β·Δ)` of a pair does not split over chunks, but its
 * gradient does once the pair's margin is known.
 *
 * The batch holds `2P` sequences: rows `0..P-1` are the chosen responses and rows `P..2P-1` the rejected ones (pair
 * `i` is rows `i` and `P + i`); `weights` is the response mask (1 on the response's target positions, 0 on the prompt
 * and padding). With `logπ(b) = Σ_t w[b, t]·log p(y[b, t])` for the policy and `logπ_ref(b)` for the frozen reference:
 *
 *     Δ_i = (logπ(i) − logπ_ref(i)) − (logπ(P+i) − logπ_ref(P+i)),   loss = (1/P)·Σ_i −log σ(β·Δ_i)
 *
 * Pass 1 (forward only, chunked) gives every `logπ(b)`, hence `∂loss/∂logπ(b) = ±β·(σ(β·Δ_i) − 1)/P`; pass 2 runs
 * the chunked head again and backpropagates those per-sequence factors (`chunkedLoss`'s `rowScale`). The reference's
 * log-probabilities come from a forward-only streamed pass at inference memory. The gradient equals the unchunked
 * DPO loss's (tested against tf.grads). Unlike the original trainer, the reported loss includes β.
 * @module
 */
import { Context } from "../nn/context.ts";
import type { GradSource, LossAndGrads, PassOptions } from "../nn/grad_source.ts";
import type { Batch, Model } from "../nn/model.ts";
import type { Params } from "../nn/params.ts";
import { discardAll, keepAll } from "../nn/policy.ts";
import type { ParamProvider } from "../nn/provider.ts";
import { chunkRanges } from "./chunks.ts";
import { chunkedLoss } from "./head.ts";
import {
  checkTokens,
  resolveStreamConfig,
  type StreamBpConfig,
  type StreamBpOptions,
  streamedHidden,
  streamedLossAndGrads,
  trunkCache,
} from "./source.ts";

/** Options for {@linkcode streamDpo}. */
export interface StreamDpoOptions extends StreamBpOptions {
  /** The frozen reference model's parameters (the same architecture as the trained model). */
  reference: Params | ParamProvider;
  /** β, the inverse temperature of the margin. @default {0.1} */
  beta?: number;
}

/** A streamed DPO gradient source (see {@linkcode streamDpo}). */
export interface StreamDpoSource extends GradSource {
  /** The resolved chunk options. */
  readonly config: StreamBpConfig;
  /** β. */
  readonly beta: number;
}

function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * A gradient source for the DPO pair loss on a causal LM, streamed along the sequence (see the module doc for the
 * batch layout and the loss).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { streamDpo } from "./dpo.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 });
 * const reference = Object.fromEntries(Object.entries(gpt.params).map(([k, v]) => [k, v.clone()]));
 * const batch = { // pair 0: row 0 chosen, row 1 rejected; the prompt (first 3 targets) is masked
 *   x: tf.randomUniform([2, 8], 0, 16, "int32", 1),
 *   y: tf.randomUniform([2, 8], 0, 16, "int32", 2),
 *   weights: tf.tensor2d([[0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 0]]),
 * };
 * const { loss } = streamDpo({ reference, beta: 0.1, chunk: 3 }).lossAndGrads(gpt, batch);
 * assert.ok(Math.abs(loss - Math.log(2)) < 1e-6); // policy = reference: Δ = 0, loss = log 2
 * ```
 * @throws {RangeError} for bad chunk options or a `beta` that is not a positive finite number; from `lossAndGrads`,
 * a RangeError when the batch does not hold an even number of sequences.
 */
export function streamDpo(options: StreamDpoOptions): StreamDpoSource {
  const config = resolveStreamConfig("StreamBP DPO", options);
  const beta = options.beta ?? 0.1;
  if (!(typeof beta === "number" && Number.isFinite(beta) && beta > 0)) {
    throw new RangeError(`Cannot create StreamBP DPO: 'beta' must be a positive number: current value is ${beta}`);
  }
  if (!options.reference) throw new TypeError("Cannot create StreamBP DPO: 'reference' parameters are required");
  const selector = options.selector ?? keepAll;
  const trunkOf = trunkCache();
  return {
    name: `streambp-dpo(beta=${beta}, chunk=${config.chunk}, kv=${config.kv})`,
    config,
    beta,
    lossAndGrads(model: Model, batch: Batch, pass: PassOptions = {}): LossAndGrads {
      const trunk = trunkOf(model);
      checkTokens("StreamBP DPO", batch.x);
      const rows = batch.x.shape[0] as number;
      if (rows % 2 !== 0 || rows === 0) {
        throw new RangeError(
          `StreamBP DPO: the batch must hold chosen/rejected pairs (an even number of rows): current value is ${rows}`,
        );
      }
      const pairs = rows / 2;
      // The reference's log-probabilities: a forward-only streamed pass (inference memory).
      const refCtx = new Context({
        params: options.reference,
        selector: discardAll,
        training: false,
        ...(pass.key ? { key: pass.key } : {}),
      });
      const refHidden = streamedHidden(trunk, batch.x, refCtx, config);
      let refSums: Float64Array;
      try {
        refSums = chunkedLoss(trunk.head, refHidden, batch.y, batch.weights, refCtx, {
          chunks: chunkRanges(batch.x.shape[1] as number, config.logitsChunk),
          backward: false,
          denominator: 1,
        }).rowSums;
      } finally {
        refHidden.dispose();
      }
      return streamedLossAndGrads(trunk, model, batch, pass, config, selector, (head, hidden, ctx, chunks) => {
        // Pass 1: the policy's log-probabilities (rowSum = −logπ), forward only.
        const first = chunkedLoss(head, hidden, batch.y, batch.weights, ctx, {
          chunks,
          backward: false,
          denominator: 1,
        });
        const logp = (b: number) => -first.rowSums[b], logpRef = (b: number) => -refSums[b];
        const rowScale = new Float64Array(rows);
        let loss = 0;
        for (let i = 0; i < pairs; i++) {
          const margin = beta * ((logp(i) - logpRef(i)) - (logp(pairs + i) - logpRef(pairs + i)));
          loss -= logSigmoid(margin) / pairs;
          const dLogp = beta * (sigmoid(margin) - 1) / pairs; // ∂loss/∂logπ(chosen); the rejected row's is −dLogp
          rowScale[i] = -dLogp; // rowSum = −logπ
          rowScale[pairs + i] = dLogp;
        }
        // Pass 2: backpropagate the per-sequence factors chunk by chunk.
        const second = chunkedLoss(head, hidden, batch.y, batch.weights, ctx, {
          chunks,
          backward: true,
          rowScale,
          denominator: 1,
        });
        return { loss, dHidden: second.dHidden! };
      });
    },
  };
}
