/**
 * Ready-made training runs used by the experiments and notebooks: a character LM run and an image classifier run,
 * each reporting loss/accuracy, ms/step, whole-step peak bytes and saved-activation bytes.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ImageDataset } from "../data/fashion_mnist.ts";
import { imageBatch } from "../data/image_batches.ts";
import { lmEvalBatches, sampleLmBatch } from "../data/lm_batch.ts";
import { Rng } from "../data/rng.ts";
import type { StateTree } from "../nn/stateful.ts";
import { disposeBatch, tokenBatch } from "./batch.ts";
import { evaluate } from "./evaluate.ts";
import { type RunOptions, trainLoop } from "./train_loop.ts";

export type { RunCheckpointOptions, RunOptions, StepProgress } from "./train_loop.ts";

/** What a run reports. */
export interface RunSummary {
  /** Steps taken. */
  steps: number;
  /** Training loss per step. */
  losses: number[];
  /** Mean training loss over the last 10% of steps. */
  trainLoss: number;
  /** Held-out loss at the end. */
  evalLoss: number;
  /** Held-out accuracy at the end (next-char accuracy for LMs). */
  accuracy: number;
  /** Mean wall time per step, excluding the first 3 (warmup). */
  msPerStep: number;
  /** Highest live bytes (unique tfjs buffers + ledger) during any step: params, optimizer state, activations. */
  peakBytes: number;
  /** Bytes held for backward at the end of forward (largest over steps). */
  savedBytes: number;
  /** Steps skipped as non-finite (`skipNonFinite`). */
  skipped: number;
}

function summarize(
  losses: number[],
  ms: number[],
  peak: number,
  saved: number,
  ev: { loss: number; accuracy: number },
): RunSummary {
  const tail = losses.slice(Math.max(0, losses.length - Math.max(1, Math.ceil(losses.length / 10))))
    .filter(Number.isFinite);
  const timed = ms.length > 4 ? ms.slice(3) : ms;
  return {
    steps: losses.length,
    losses,
    trainLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    evalLoss: ev.loss,
    accuracy: ev.accuracy,
    msPerStep: timed.reduce((a, b) => a + b, 0) / timed.length,
    peakBytes: peak,
    savedBytes: saved,
    skipped: losses.filter((l) => !Number.isFinite(l)).length,
  };
}

/** Options for {@linkcode runLm}. */
export interface LmRunOptions<S> extends RunOptions<S> {
  /** Token streams (e.g. from `loadCharCorpus`). */
  data: { train: Int32Array; val: Int32Array };
  /** Sequence length. */
  context: number;
  /** Validation batches at the end. @default {8} */
  evalBatches?: number;
}

/**
 * Trains a causal LM on random windows of `data.train` and evaluates on the first windows of `data.val`.
 *
 * @example Usage
 * ```ts
 * import { runLm } from "./runs.ts";
 * import { charCorpusFromText } from "../data/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { adamw } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const corpus = charCorpusFromText("the cat sat on the mat. ".repeat(40));
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize, context: 16 });
 * const r = runLm({ model: gpt, optimizer: adamw({ lr: 1e-2 }), data: corpus, steps: 30, batch: 4, context: 16 });
 * assert.ok(r.losses[29] < r.losses[0] && r.peakBytes > 0);
 * ```
 */
export function runLm<S>(opts: LmRunOptions<S>): RunSummary {
  let rng = new Rng(opts.seed ?? 0);
  const { trainer, losses, ms, peak, saved } = trainLoop(
    opts,
    () => tokenBatch(sampleLmBatch(opts.data.train, opts.batch, opts.context, rng), opts.batch, opts.context),
    { save: () => ({ rng: rng.state() }), load: (s) => (rng = Rng.fromState((s as { rng: Float64Array }).rng)) },
    { kind: "lm", batch: opts.batch, context: opts.context, seed: opts.seed ?? 0, tokens: opts.data.train.length },
  );
  trainer.dispose();
  const windows = lmEvalBatches(opts.data.val, opts.batch, opts.context, opts.evalBatches ?? 8);
  const batches = windows.map((w) => tokenBatch(w, w.x.length / opts.context, opts.context));
  try {
    return summarize(losses, ms, peak, saved, evaluate(opts.model, batches));
  } finally {
    batches.forEach(disposeBatch);
  }
}

/** Options for {@linkcode runClassifier}. */
export interface ClassifierRunOptions<S> extends RunOptions<S> {
  /** Training images. */
  train: ImageDataset;
  /** Test images. */
  test: ImageDataset;
  /** Evaluate on at most this many test images. @default {all} */
  evalLimit?: number;
}

/**
 * Trains an image classifier on shuffled epochs of `train` and reports test accuracy.
 *
 * @example Usage
 * ```ts
 * import { runClassifier } from "./runs.ts";
 * import { createVit, VIT_PRESETS } from "../models/mod.ts";
 * import { adamw } from "../optim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * // Two classes of 28x28 images: dark and bright.
 * const n = 32, pixels = new Float32Array(n * 784), labels = new Int32Array(n);
 * for (let i = 0; i < n; i++) {
 *   labels[i] = i % 2;
 *   pixels.fill(labels[i] ? 0.9 : 0.1, i * 784, (i + 1) * 784);
 * }
 * const ds = { images: pixels, labels, n, height: 28, width: 28, channels: 1 as const, numClasses: 10 as const, classNames: ["dark", "bright"] };
 * const vit = createVit(VIT_PRESETS.tiny);
 * const r = runClassifier({ model: vit, optimizer: adamw({ lr: 3e-3 }), train: ds, test: ds, steps: 20, batch: 8 });
 * assert.equal(r.accuracy, 1);
 * ```
 */
export function runClassifier<S>(opts: ClassifierRunOptions<S>): RunSummary {
  let rng = new Rng(opts.seed ?? 0);
  let order = rng.permutation(opts.train.n), pos = 0, epoch = 0;
  const data = {
    save: (): StateTree => ({ rng: rng.state(), order: order.slice(), pos, epoch }),
    load(s: StateTree) {
      const d = s as { rng: Float64Array; order: Int32Array; pos: number; epoch: number };
      if (!(d?.order instanceof Int32Array) || d.order.length !== opts.train.n || !Number.isInteger(d.pos)) {
        throw new RangeError(`the permutation or offset does not fit ${opts.train.n} images`);
      }
      [rng, order, pos, epoch] = [Rng.fromState(d.rng), d.order, d.pos, d.epoch];
    },
  };
  const { trainer, losses, ms, peak, saved } = trainLoop(
    opts,
    () => {
      if (pos + opts.batch > order.length) {
        order = rng.permutation(opts.train.n);
        pos = 0;
        epoch++;
      }
      const idx = order.subarray(pos, pos + opts.batch);
      pos += opts.batch;
      return imageBatch(opts.train, idx);
    },
    data,
    { kind: "classifier", batch: opts.batch, seed: opts.seed ?? 0, images: opts.train.n },
  );
  trainer.dispose();
  const n = Math.min(opts.test.n, opts.evalLimit ?? opts.test.n);
  const batches = [];
  for (let s = 0; s < n; s += 500) {
    batches.push(imageBatch(opts.test, Int32Array.from({ length: Math.min(500, n - s) }, (_, i) => s + i)));
  }
  try {
    return summarize(losses, ms, peak, saved, evaluate(opts.model, batches));
  } finally {
    batches.forEach((b) => tf.dispose([b.x, b.y]));
  }
}
