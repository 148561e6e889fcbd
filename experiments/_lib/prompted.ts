/**
 * Name-gender classification as a prompted task for a character LM (MeZO's setting: a pretrained model, a prompt,
 * label words as next-token targets): the pretraining corpus, the prompt encoding, the label-word head and evaluation.
 *
 * The prompt is the LM's own format: `"\n" + name + "\n"`, right-padded with newlines to {@linkcode PROMPT_CONTEXT}
 * tokens; the target is the token after the name's closing newline, where the LM predicts the next name's first
 * letter, and the label words are `F` (female) and `M` (male). Causal attention makes the padding invisible to the
 * target position. The label-word model is the LM with its output head cut to the label words' two rows, so its
 * zero-shot prediction is the LM's `P(F)` vs `P(M)` and fine-tuning starts from it (LM-BFF's prompt-based
 * fine-tuning, which MeZO uses).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type CharCorpus, charCorpusFromText, type NameGender, Rng } from "../../lib/data/mod.ts";
import type { Gpt } from "../../lib/models/mod.ts";
import { type Batch, LayerNorm, Linear, type Model, type Params, Sequence, trunkSavedSpecs } from "../../lib/nn/mod.ts";
import { evaluate } from "../../lib/train/mod.ts";

/** Tokens per prompt: the longest name (15 characters) plus the two newlines. */
export const PROMPT_CONTEXT = 17;

/** The label words, by label (0 = female, 1 = male). */
export const LABEL_WORDS = ["F", "M"] as const;

/** One labeled name. */
export interface NameExample {
  /** The name, e.g. `"Mary"`. */
  name: string;
  /** 0 = female, 1 = male. */
  label: number;
}

/** The task's splits: the loader's fixed test split, and its training names cut into a dev split and the rest. */
export interface PromptSplits {
  /** Training names (the loader's training split after the dev names). */
  train: NameExample[];
  /** Dev names (checkpoint and hyperparameter choice): the first `devSize` of the loader's training split. */
  dev: NameExample[];
  /** The loader's fixed test split. */
  test: NameExample[];
}

/**
 * Splits `data` (from `loadNameGender`, whose training split is already shuffled once by its seed) into train, dev and
 * test examples.
 * @throws {RangeError} when `devSize` is not a positive integer below the training split's size.
 */
export function promptSplits(data: NameGender, devSize: number): PromptSplits {
  const n = data.train.names.length;
  if (!Number.isInteger(devSize) || devSize < 1 || devSize >= n) {
    throw new RangeError(
      `Cannot split names: 'devSize' must be a positive integer below ${n}: current value is ${devSize}`,
    );
  }
  const rows = (s: NameGender["train"]) => s.names.map((name, i) => ({ name, label: s.labels[i] }));
  const train = rows(data.train);
  return { dev: train.slice(0, devSize), train: train.slice(devSize), test: rows(data.test) };
}

/**
 * The pretraining corpus: every name except the test split's (train and dev), unlabeled, in one shuffled order, one
 * per line; 5% held out for the LM's validation loss.
 */
export function pretrainCorpus(data: PromptSplits, seed: number): CharCorpus {
  const names = [...data.train, ...data.dev].map((e) => e.name);
  new Rng(seed).fork("pretrain-order").shuffle(names);
  // The test split's letters must all occur here: encoding a test name checks it.
  return charCorpusFromText("\n" + names.join("\n") + "\n", {
    name: "first-names-pretrain",
    valFraction: 0.05,
  });
}

/** Prompt tokens, targets and the one-position loss mask of a list of examples, `[n·T]` each. */
export interface PromptArrays {
  /** Input tokens. */
  x: Int32Array;
  /** Targets: the label (0 or 1, an index into the label words) at the target position, 0 elsewhere. */
  y: Int32Array;
  /** 1 at each example's target position, 0 elsewhere. */
  mask: Float32Array;
  /** Labels, one per example. */
  labels: Uint8Array;
  /** Examples. */
  n: number;
}

/** Encodes `examples` as prompts (see the module doc). */
export function promptArrays(examples: readonly NameExample[], corpus: CharCorpus): PromptArrays {
  const T = PROMPT_CONTEXT, n = examples.length;
  const nl = corpus.stoi.get("\n")!;
  const x = new Int32Array(n * T).fill(nl), y = new Int32Array(n * T), mask = new Float32Array(n * T);
  const labels = new Uint8Array(n);
  examples.forEach((e, i) => {
    const ids = corpus.encode(e.name);
    if (ids.length + 2 > T) throw new RangeError(`Cannot encode "${e.name}": longer than ${T - 2} characters`);
    x.set(ids, i * T + 1); // x = \n name \n \n ...
    const pos = i * T + ids.length + 1; // the closing newline: its next token is the label word
    y[pos] = e.label;
    mask[pos] = 1;
    labels[i] = e.label;
  });
  return { x, y, mask, labels, n };
}

/** The batch of examples `idx` of `a` (the caller disposes it). */
export function promptBatch(a: PromptArrays, idx: ArrayLike<number>): Batch {
  const T = PROMPT_CONTEXT, b = idx.length;
  const x = new Int32Array(b * T), y = new Int32Array(b * T), mask = new Float32Array(b * T);
  for (let r = 0; r < b; r++) {
    const s = idx[r] * T;
    x.set(a.x.subarray(s, s + T), r * T);
    y.set(a.y.subarray(s, s + T), r * T);
    mask.set(a.mask.subarray(s, s + T), r * T);
  }
  return {
    x: tf.tensor2d(x, [b, T], "int32"),
    y: tf.tensor2d(y, [b, T], "int32"),
    weights: tf.tensor2d(mask, [b, T]),
  };
}

/** Every example of `a` in batches of `size`, in order (the caller disposes them). */
export function promptBatches(a: PromptArrays, size: number): Batch[] {
  const out: Batch[] = [];
  for (let s = 0; s < a.n; s += size) {
    out.push(promptBatch(a, Array.from({ length: Math.min(size, a.n - s) }, (_, i) => s + i)));
  }
  return out;
}

/**
 * The LM as a prompted classifier: the same trunk, with the output head cut to the label words' rows (new tensors
 * for `head.out.w [D, 2]` and `head.out.b [2]`; the other parameters are the LM's tensors, shared).
 */
export function labelWordModel(lm: Gpt, corpus: CharCorpus): Model {
  const ids = LABEL_WORDS.map((w) => corpus.stoi.get(w)!);
  const d = lm.config.dim;
  const layers = [
    ...lm.layers.slice(0, -1),
    new Sequence("head", [new LayerNorm("ln_f", d), new Linear("out", d, LABEL_WORDS.length)]),
  ];
  const params: Params = { ...lm.params };
  params["head.out.w"] = tf.tidy(() => tf.gather(lm.params["head.out.w"], ids, 1)); // [D, 2]
  params["head.out.b"] = tf.tidy(() => tf.gather(lm.params["head.out.b"], ids)); // [2]
  const loss = lm.loss;
  return {
    kind: "gpt-label-words",
    config: lm.config,
    layers,
    loss,
    params,
    savedSpecs: (shape, weighted = false) => trunkSavedSpecs(layers, loss, shape, weighted),
    flopsPerExample: lm.flopsPerExample,
  };
}

/** Accuracy and mean loss of `model` on prebuilt batches. */
export function accuracyOn(model: Model, batches: readonly Batch[]): { accuracy: number; loss: number } {
  const r = evaluate(model, batches);
  return { accuracy: r.accuracy, loss: r.loss };
}
