/**
 * What StreamBP needs of a model, checked once: a causal language model whose trunk is a stem (the embedding), a
 * run of causal {@linkcode TransformerBlock}s, and a position-wise head (LayerNorm / Linear / GELU layers), with the
 * softmax cross-entropy as its loss.
 * @module
 */
import { TransformerBlock } from "../nn/block.ts";
import { SoftmaxCrossEntropy } from "../nn/cross_entropy.ts";
import { Gelu } from "../nn/gelu.ts";
import type { Layer } from "../nn/layer.ts";
import { LayerNorm } from "../nn/layernorm.ts";
import { Linear } from "../nn/linear.ts";
import type { Model } from "../nn/model.ts";
import { Sequence } from "../nn/sequence.ts";

/** A model's trunk as StreamBP runs it. */
export interface StreamTrunk {
  /** The layers before the first block (the embedding), run on the whole sequence. */
  readonly stem: Sequence;
  /** The blocks, streamed chunk by chunk. */
  readonly blocks: readonly TransformerBlock[];
  /** The layers after the last block as one position-wise layer, run chunk by chunk with the loss. */
  readonly head: Layer;
}

function positionWise(layer: Layer): boolean {
  if (layer instanceof Sequence) return layer.layers.every(positionWise);
  return layer instanceof LayerNorm || layer instanceof Linear || layer instanceof Gelu;
}

/**
 * Splits `model.layers` into stem, blocks and head, or says why StreamBP cannot run the model.
 *
 * @example Usage
 * ```ts
 * import { streamTrunk } from "./trunk.ts";
 * import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const t = streamTrunk(createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }));
 * assert.deepEqual(t.blocks.map((b) => b.name), ["blocks.0", "blocks.1"]);
 * assert.throws(() => streamTrunk(createVit(VIT_PRESETS.tiny)), /non-causal attention/);
 * ```
 * @throws {TypeError} for a model without causal Transformer blocks, with blocks that are not consecutive, with a
 * head that is not position-wise, or with a loss other than the softmax cross-entropy.
 */
export function streamTrunk(model: Model): StreamTrunk {
  const where = `Cannot run StreamBP on the "${model.kind}" model`;
  const isBlock = model.layers.map((l) => l instanceof TransformerBlock);
  const first = isBlock.indexOf(true), last = isBlock.lastIndexOf(true);
  if (first < 0) throw new TypeError(`${where}: its trunk has no TransformerBlock to stream`);
  const gap = isBlock.slice(first, last + 1).indexOf(false);
  if (gap >= 0) {
    throw new TypeError(`${where}: layer "${model.layers[first + gap].name}" sits between its Transformer blocks`);
  }
  const blocks = model.layers.slice(first, last + 1) as TransformerBlock[];
  const acausal = blocks.find((b) => !b.attn.causal);
  if (acausal) {
    throw new TypeError(
      `${where}: block "${acausal.name}" has non-causal attention; StreamBP needs a causal model, where the outputs ` +
        `of positions s..e-1 depend only on positions 0..e-1`,
    );
  }
  const after = model.layers.slice(last + 1);
  const bad = after.find((l) => !positionWise(l));
  if (after.length === 0 || bad) {
    throw new TypeError(
      `${where}: ${
        bad ? `its head layer "${bad.name}" is not position-wise` : "it has no head after the blocks"
      }; StreamBP runs the head chunk by chunk and needs LayerNorm, Linear and GELU layers there`,
    );
  }
  if (!(model.loss instanceof SoftmaxCrossEntropy)) {
    throw new TypeError(`${where}: its loss is not a SoftmaxCrossEntropy`);
  }
  return {
    stem: new Sequence("", model.layers.slice(0, first)),
    blocks,
    head: after.length === 1 ? after[0] : new Sequence("", after),
  };
}
