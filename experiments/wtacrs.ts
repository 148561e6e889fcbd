/**
 * `deno task experiment wtacrs`: WTA-CRS's accuracy table in small (the paper's Tables 1 and 2). A tiny GPT is
 * pretrained as a character LM on the training names, then fine-tuned to classify a name's gender (the class token
 * predicted at the name's closing newline; names in both lists dropped; a fixed 1,000-name test split; the majority
 * class is the floor): full fine-tuning vs WTA-CRS at ratios 0.3 and 0.1, CRS at 0.3 (no winners), deterministic
 * top-k at 0.3 (no reweighting: the biased control) and WTA-CRS 0.3 with its rows and every other saved tensor in
 * Mesa's 8 bits, over several seeds. Batches carry the names' ids and padding (`Batch.rows`), so WTA-CRS samples with
 * `‖x_i‖·‖dy_i‖` from the last visit's gradients. The same sweep trains a ViT on Fashion-MNIST (image ids too).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import {
  charCorpusFromText,
  encodeNames,
  imageBatch,
  loadFashionMnist,
  loadNameGender,
  type NameGender,
  normalizeImages,
  Rng,
  sampleLmBatch,
} from "../lib/data/mod.ts";
import { meter, mib } from "../lib/memory/mod.ts";
import { createGpt, createVit, type Gpt, VIT_PRESETS } from "../lib/models/mod.ts";
import { type Batch, disposeTree, inferLogits, type Model, type Params } from "../lib/nn/mod.ts";
import { warmupCosineSchedule } from "../lib/optim/mod.ts";
import { disposeBatch, evaluate, tokenBatch, Trainer } from "../lib/train/mod.ts";
import { defineExperiment, type Row, runCellsInOrder } from "./_lib/experiment.ts";
import { buildOptimizer, optimizerFields } from "./_lib/optimizers.ts";
import { buildTechnique, type BuiltTechnique, techniqueFields } from "./_lib/techniques.ts";

/** The compared methods: the technique row and the ratio each runs with. */
const METHODS = {
  full: { technique: "baseline", ratio: 1 },
  "wtacrs-0.3": { technique: "wtacrs", ratio: 0.3 },
  "wtacrs-0.1": { technique: "wtacrs", ratio: 0.1 },
  "crs-0.3": { technique: "wtacrs-crs", ratio: 0.3 },
  "topk-0.3": { technique: "wtacrs-topk", ratio: 0.3 },
  "wtacrs-0.3+mesa": { technique: "wtacrs+mesa-head-wise", ratio: 0.3 },
} as const;
type Method = keyof typeof METHODS;
const METHOD_NAMES = Object.keys(METHODS) as Method[];

// The method fixes WTA-CRS's ratio, so the technique's own ratio key is not a config key here.
const { wtacrsRatio: _ratio, ...wtacrsFields } = techniqueFields("wtacrs", "mesa");

const schema = z.object({
  models: z.enum(["both", "gpt", "vit"]).default("both").describe("name-gender GPT, Fashion-MNIST ViT, or both"),
  methods: z.array(z.enum(METHOD_NAMES as [Method, ...Method[]])).default(METHOD_NAMES).describe(
    "methods to compare (full fine-tuning first)",
  ),
  seeds: z.array(z.number().int()).default([0, 1, 2]).describe("fine-tuning seeds (batch order, sampling)"),
  gptDim: z.number().int().positive().default(64).describe("GPT width"),
  gptLayers: z.number().int().positive().default(4).describe("GPT blocks"),
  gptHeads: z.number().int().positive().default(4).describe("GPT attention heads"),
  pretrainSteps: z.number().int().positive().default(1500).describe("character-LM pretraining steps (seed 0)"),
  pretrainLr: z.number().positive().default(3e-3).describe("pretraining peak learning rate"),
  steps: z.number().int().positive().default(600).describe("fine-tuning steps"),
  batch: z.number().int().positive().default(32).describe("names per batch (pretraining: windows per batch)"),
  lr: z.number().positive().default(1e-3).describe("fine-tuning peak learning rate"),
  weightDecay: z.number().min(0).default(0.01).describe("weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
  vitSteps: z.number().int().positive().default(400).describe("ViT training steps"),
  vitBatch: z.number().int().positive().default(64).describe("ViT images per batch"),
  vitLr: z.number().positive().default(2e-3).describe("ViT peak learning rate"),
  vitPatch: z.number().int().positive().default(7).describe("ViT patch size"),
  trainLimit: z.number().int().positive().default(20000).describe("Fashion-MNIST training images used"),
  evalLimit: z.number().int().positive().default(2000).describe("Fashion-MNIST test images evaluated"),
  ...optimizerFields(),
  ...wtacrsFields,
}).strict();
type Config = z.infer<typeof schema>;

/** The run's summary: accuracy and the memory and time columns. */
interface Summary {
  accuracy: number;
  peak: number;
  saved: number;
  ms: number;
}

/** Trains `model` with `tech` for `steps` batches from `next`; peak, saved bytes and ms/step (after 3 warmup steps). */
function train(
  model: Model,
  tech: BuiltTechnique,
  config: Config,
  opts: { steps: number; lr: number; seed: number },
  next: (step: number) => Batch,
): Omit<Summary, "accuracy"> {
  const lr = warmupCosineSchedule({
    peak: opts.lr,
    warmupSteps: Math.ceil(opts.steps / 20),
    totalSteps: opts.steps,
    end: opts.lr / 10,
    init: opts.lr / 100,
  });
  const optimizer = tech.optimizer(buildOptimizer(config, { lr, weightDecay: config.weightDecay }));
  const trainer = new Trainer(model, { optimizer, source: tech.source, seed: opts.seed });
  const m = meter();
  let peak = 0, saved = 0, ms = 0, timed = 0;
  try {
    for (let i = 0; i < opts.steps; i++) {
      const batch = next(i);
      m.resetPeak();
      const r = trainer.step(batch);
      peak = Math.max(peak, m.peak);
      saved = Math.max(saved, r.savedBytes);
      if (i >= 3 || opts.steps <= 3) (ms += r.ms, timed++);
      disposeBatch(batch);
    }
  } finally {
    trainer.dispose();
  }
  return { peak, saved, ms: ms / timed };
}

/** The name-gender data and the GPT's shape, loaded once per process. */
interface NameTask {
  data: NameGender;
  context: number;
  /** Vocabulary: the characters, then the two class tokens. */
  vocab: number;
  classToken: number;
}

let nameTask: Promise<NameTask> | undefined;
function loadNameTask(): Promise<NameTask> {
  return nameTask ??= loadNameGender().then((data) => ({
    data,
    context: data.maxLength + 2,
    vocab: data.vocab.length + 2,
    classToken: data.vocab.length,
  }));
}

const pretrained = new Map<string, Params>();

/** The GPT pretrained as a character LM on the training names (seed 0; cached per process and config). */
function pretrain(task: NameTask, config: Config, log: (m: string) => void): Params {
  const key = JSON.stringify([config.gptDim, config.gptLayers, config.gptHeads, config.pretrainSteps, config.batch]);
  const hit = pretrained.get(key);
  if (hit) return hit;
  const gpt = makeGpt(task, config);
  const corpus = charCorpusFromText(task.data.train.names.join("\n"), { valFraction: 0 });
  // Re-encode with the task's vocabulary (the corpus's own ids may differ).
  const stoi = new Map(task.data.vocab.map((c, i) => [c, i]));
  const tokens = Int32Array.from(corpus.decode(corpus.train), (c) => stoi.get(c)!);
  const rng = new Rng(0);
  const tech = buildTechnique("baseline", {});
  const t0 = performance.now();
  train(
    gpt,
    tech,
    config,
    { steps: config.pretrainSteps, lr: config.pretrainLr, seed: 0 },
    () => tokenBatch(sampleLmBatch(tokens, config.batch, task.context, rng), config.batch, task.context),
  );
  tech.dispose();
  log(`pretrained the GPT (${config.pretrainSteps} steps) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  pretrained.set(key, gpt.params);
  return gpt.params;
}

function makeGpt(task: NameTask, config: Config): Gpt {
  return createGpt({
    vocab: task.vocab,
    context: task.context,
    dim: config.gptDim,
    layers: config.gptLayers,
    heads: config.gptHeads,
    mlpRatio: 4,
  }, { seed: 0 });
}

/** A batch of names with their ids (indices in the split) and padding. */
function nameBatch(task: NameTask, split: "train" | "test", idx: Int32Array): Batch {
  const s = task.data[split];
  const names = Array.from(idx, (i) => s.names[i]), labels = Int32Array.from(idx, (i) => s.labels[i]);
  const e = encodeNames(names, labels, task.data.vocab, task.context, task.classToken);
  const b = idx.length, t = task.context;
  return {
    x: tf.tensor2d(e.x, [b, t], "int32"),
    y: tf.tensor2d(e.y, [b, t], "int32"),
    weights: tf.tensor2d(e.mask, [b, t]),
    rows: { ids: idx.slice(), live: e.live },
  };
}

/** Test accuracy: the larger of the two class logits at each name's closing newline. */
function nameAccuracy(task: NameTask, model: Model): number {
  const n = task.data.test.names.length;
  let hits = 0;
  for (let s = 0; s < n; s += 250) {
    const idx = Int32Array.from({ length: Math.min(250, n - s) }, (_, i) => s + i);
    const e = encodeNames(
      Array.from(idx, (i) => task.data.test.names[i]),
      Array.from(idx, (i) => task.data.test.labels[i]),
      task.data.vocab,
      task.context,
      task.classToken,
    );
    const logits = tf.tidy(() => {
      const x = tf.tensor2d(e.x, [idx.length, task.context], "int32");
      return inferLogits(model, x).slice([0, 0, task.classToken], [-1, -1, 2]); // [b, T, 2]
    });
    const z = logits.dataSync();
    logits.dispose();
    for (let i = 0; i < idx.length; i++) {
      const o = (i * task.context + e.at[i]) * 2;
      const predicted = z[o + 1] > z[o] ? 1 : 0;
      if (predicted === task.data.test.labels[idx[i]]) hits++;
    }
  }
  return hits / n;
}

async function runGpt(config: Config, method: Method, seed: number, log: (m: string) => void): Promise<Summary> {
  const task = await loadNameTask();
  const base = pretrain(task, config, log);
  const model = makeGpt(task, config);
  disposeTree(model.params);
  model.params = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v.clone()]));
  const { technique, ratio } = METHODS[method];
  const tech = buildTechnique(technique, { ...config, wtacrsRatio: ratio, seed });
  const rng = new Rng(seed).fork("names");
  const nTrain = task.data.train.names.length;
  let order = rng.permutation(nTrain), pos = 0;
  try {
    const r = train(model, tech, config, { steps: config.steps, lr: config.lr, seed }, () => {
      if (pos + config.batch > nTrain) (order = rng.permutation(nTrain), pos = 0);
      return nameBatch(task, "train", order.slice(pos, pos += config.batch));
    });
    return { ...r, accuracy: nameAccuracy(task, model) };
  } finally {
    tech.dispose();
    disposeTree(model.params);
  }
}

async function runVit(config: Config, method: Method, seed: number): Promise<Summary> {
  const trainSet = normalizeImages(await loadFashionMnist({ split: "train", limit: config.trainLimit }));
  const test = normalizeImages(await loadFashionMnist({ split: "test", limit: config.evalLimit }));
  const model = createVit({ ...VIT_PRESETS.small, patch: config.vitPatch }, { seed });
  const { technique, ratio } = METHODS[method];
  const tech = buildTechnique(technique, { ...config, wtacrsRatio: ratio, seed });
  const rng = new Rng(seed).fork("images");
  let order = rng.permutation(trainSet.n), pos = 0;
  try {
    const r = train(model, tech, config, { steps: config.vitSteps, lr: config.vitLr, seed }, () => {
      if (pos + config.vitBatch > trainSet.n) (order = rng.permutation(trainSet.n), pos = 0);
      const idx = order.slice(pos, pos += config.vitBatch);
      return { ...imageBatch(trainSet, idx), rows: { ids: idx } };
    });
    const batches: Batch[] = [];
    for (let s = 0; s < test.n; s += 500) {
      batches.push(imageBatch(test, Int32Array.from({ length: Math.min(500, test.n - s) }, (_, i) => s + i)));
    }
    const { accuracy } = evaluate(model, batches);
    batches.forEach(disposeBatch);
    return { ...r, accuracy };
  } finally {
    tech.dispose();
    disposeTree(model.params);
  }
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const se = (v: number[]) =>
  v.length < 2 ? 0 : Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1) / v.length);

/** The WTA-CRS experiment. */
export const wtacrs = defineExperiment({
  name: "wtacrs",
  description: "WTA-CRS vs full fine-tuning, CRS and top-k: name-gender accuracy (tiny GPT) and ViT, with memory",
  schema,
  quick: {
    methods: ["full", "wtacrs-0.3"],
    seeds: [0],
    gptLayers: 2,
    pretrainSteps: 20,
    steps: 10,
    vitSteps: 5,
    vitBatch: 16,
    trainLimit: 500,
    evalLimit: 200,
  },
  columns: [
    "technique",
    "model",
    "seeds",
    "accuracy",
    "accuracySe",
    "accuracyDeltaPts",
    "savedMiB",
    "savedRatio",
    "peakMiB",
    "peakRatio",
    "msPerStep",
    "timeRatio",
  ],
  cells(config) {
    const models = config.models === "both" ? ["gpt", "vit"] : [config.models];
    return models.flatMap((model) =>
      config.methods.flatMap((method) => config.seeds.map((seed) => ({ model, method, seed })))
    );
  },
  async runCell(config, cell, ctx) {
    const method = cell.method as Method, seed = Number(cell.seed);
    ctx.log(`${cell.model}: ${method}, seed ${seed}`);
    const r = cell.model === "gpt" ? await runGpt(config, method, seed, ctx.log) : await runVit(config, method, seed);
    ctx.log(`${cell.model}: ${method}, seed ${seed}: accuracy ${(100 * r.accuracy).toFixed(2)}%`);
    const row: Row = {
      technique: method,
      model: cell.model === "gpt" ? "gpt-names" : `vit-small/p${config.vitPatch}`,
      seed,
      accuracy: r.accuracy,
      savedMiB: mib(r.saved),
      peakMiB: mib(r.peak),
      msPerStep: r.ms,
    };
    if (cell.model === "gpt") row.majorityAccuracy = (await loadNameTask()).data.majorityAccuracy;
    return [row];
  },
  finalize(rows) {
    // One row per (model, method): the mean over seeds (accuracy with its standard error), then ratios to full.
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const k = `${r.model}\u0000${r.technique}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const out: Row[] = [];
    for (const g of groups.values()) {
      const col = (k: string) => g.map((r) => Number(r[k]));
      out.push({
        technique: g[0].technique,
        model: g[0].model,
        seeds: g.map((r) => r.seed).join(","),
        accuracy: mean(col("accuracy")),
        accuracySe: se(col("accuracy")),
        accuracies: g.map((r) => Number(r.accuracy).toFixed(4)).join(","),
        savedMiB: mean(col("savedMiB")),
        peakMiB: mean(col("peakMiB")),
        msPerStep: mean(col("msPerStep")),
      });
    }
    const majority = rows.find((r) => r.majorityAccuracy !== undefined)?.majorityAccuracy;
    if (majority !== undefined) {
      out.push({ technique: "majority class", model: "gpt-names", accuracy: Number(majority) });
    }
    return out.map((row) => {
      const base = out.find((b) => b.model === row.model && b.technique === "full");
      if (!base || row.savedMiB === undefined) return row;
      const ratio = (k: string) => Number(row[k]) / Number(base[k]);
      return {
        ...row,
        accuracyDeltaPts: 100 * (Number(row.accuracy) - Number(base.accuracy)),
        savedRatio: ratio("savedMiB"),
        peakRatio: ratio("peakMiB"),
        timeRatio: ratio("msPerStep"),
      };
    });
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
