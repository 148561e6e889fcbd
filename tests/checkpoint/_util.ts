/**
 * Shared fixtures for the checkpoint tests.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Model } from "../../lib/nn/model.ts";
import { type ActivationPolicy, dtypeBytes, type SavedInfo } from "../../lib/nn/policy.ts";

/** A token batch `[b, t]` over `vocab` with deterministic ids (caller disposes). */
export function tokenBatch(b: number, t: number, vocab: number, seed = 1): Batch {
  return {
    x: tf.randomUniform([b, t], 0, vocab, "int32", seed),
    y: tf.randomUniform([b, t], 0, vocab, "int32", seed + 1),
  };
}

/** Disposes a batch and a model's parameters. */
export function disposeAll(batch: Batch | null, model: Model): void {
  if (batch) [batch.x, batch.y, ...(batch.weights ? [batch.weights] : [])].forEach((t) => t.dispose());
  Object.values(model.params).forEach((p) => p.dispose());
}

/** One event of {@linkcode countingPolicy}'s log. */
export interface PolicyEvent {
  op: "pack" | "unpack";
  tag: string;
  role: string;
}

/**
 * An exact policy that stores a clone (like keep) and logs every pack and unpack, so a test can see *when* a tensor
 * was saved (during forward or during a recomputation in backward).
 */
export function countingPolicy(log: PolicyEvent[]): ActivationPolicy<tf.Tensor> {
  return {
    name: "counting-clone",
    exact: true,
    pack(t: tf.Tensor, info: SavedInfo) {
      log.push({ op: "pack", tag: info.tag, role: info.role });
      return tf.keep(t.clone());
    },
    unpack(p: tf.Tensor, info: SavedInfo) {
      log.push({ op: "unpack", tag: info.tag, role: info.role });
      return p.clone();
    },
    bytes: (p: tf.Tensor) => p.size * dtypeBytes(p.dtype),
    predictBytes: (shape: readonly number[], dtype: tf.DataType) =>
      shape.reduce((a, b) => a * b, 1) * dtypeBytes(dtype),
    dispose: (p: tf.Tensor) => p.dispose(),
  };
}
