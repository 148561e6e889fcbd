/**
 * `deno task experiment mezo`: MeZO against backprop fine-tuning on a prompted task, after the paper's Table 18 in
 * small, plus its Figure 3 (memory against model size).
 *
 * 1. Pretrain a tiny GPT as a character LM on first names (every name but the test split's, unlabeled).
 * 2. Adapt it to name-gender classification as a prompted task (`experiments/_lib/prompted.ts`: prompt `\nName\n`,
 *    label words `F`/`M` as the next token; names in both lists dropped; fixed 1,000-name test split, 500-name dev
 *    split): majority class, zero-shot, linear probe, full fine-tuning with Adam, LoRA fine-tuning with Adam, MeZO
 *    (full) and MeZO (LoRA), each with an lr grid; MeZO at the same wall-clock budget as Adam fine-tuning and at a
 *    longer one. Checkpoints (lr and step) are chosen on dev; the test accuracy at that checkpoint is reported.
 * 3. MeZO's ε sensitivity at the chosen learning rate.
 * 4. Memory against model size: whole-step peak of inference, MeZO, MeZO+LoRA, LoRA fine-tuning and full fine-tuning
 *    (Adam) on GPT widths and depths, one LM batch of the names corpus.
 *
 * The defaults are sized for ~15 minutes on a shared 2-core machine (one seed, three-point lr grids, MeZO runs of
 * 1,000 grid steps and at most 3,000 long-run steps): far fewer MeZO steps than the paper's 100k.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { type CharCorpus, loadNameGender, Rng, sampleLmBatch } from "../lib/data/mod.ts";
import { withLora } from "../lib/lora/mod.ts";
import { meter, mib } from "../lib/memory/mod.ts";
import { axpz, axpzStock, mezo, MezoLog, replayMezo } from "../lib/mezo/mod.ts";
import { createGpt, type Gpt } from "../lib/models/mod.ts";
import {
  type Batch,
  disposeTree,
  forwardLoss,
  type Model,
  type Params,
  trainableParams,
  treeSize,
} from "../lib/nn/mod.ts";
import { adam, adamw, warmupCosineSchedule } from "../lib/optim/mod.ts";
import { disposeBatch, runLm, tokenBatch, Trainer, type TrainerOptions } from "../lib/train/mod.ts";
import { defineExperiment, type Row } from "./_lib/experiment.ts";
import {
  accuracyOn,
  labelWordModel,
  pretrainCorpus,
  PROMPT_CONTEXT,
  type PromptArrays,
  promptArrays,
  promptBatch,
  promptBatches,
  promptSplits,
} from "./_lib/prompted.ts";

const schema = z.object({
  seed: z.number().int().default(0).describe("seed of the splits, init, batches and MeZO's directions"),
  dim: z.number().int().positive().default(64).describe("width D of the experiment's GPT (default: GPT_PRESETS.tiny)"),
  layers: z.number().int().positive().default(2).describe("blocks of the experiment's GPT"),
  heads: z.number().int().positive().default(4).describe("attention heads"),
  lmContext: z.number().int().positive().default(32).describe("pretraining window (characters)"),
  pretrainSteps: z.number().int().positive().default(800).describe("pretraining steps (AdamW, warmup-cosine)"),
  pretrainBatch: z.number().int().positive().default(32).describe("pretraining windows per batch"),
  pretrainLr: z.number().positive().default(3e-3).describe("pretraining peak learning rate"),
  batch: z.number().int().positive().default(16).describe("fine-tuning prompts per batch (every method)"),
  ftSteps: z.number().int().positive().default(300).describe("Adam fine-tuning steps (full and LoRA)"),
  ftLrs: z.array(z.number().positive()).default([1e-4, 3e-4, 1e-3]).describe("Adam full fine-tuning lr grid"),
  loraLrs: z.array(z.number().positive()).default([1e-3, 3e-3, 1e-2]).describe("Adam LoRA fine-tuning lr grid"),
  lpSteps: z.number().int().positive().default(500).describe("linear-probe steps (Adam on the head only)"),
  lpLrs: z.array(z.number().positive()).default([1e-2, 3e-2]).describe("linear-probe lr grid"),
  evalEvery: z.number().int().positive().default(50).describe("Adam runs: dev/test evaluation interval (steps)"),
  mezoLrs: z.array(z.number().positive()).default([1e-3, 1e-4, 1e-5]).describe("full MeZO lr grid"),
  mezoEps: z.number().positive().default(1e-3).describe("full MeZO's ε"),
  mezoLoraLrs: z.array(z.number().positive()).default([1e-2, 3e-3, 1e-3]).describe("MeZO-LoRA lr grid"),
  mezoLoraEps: z.number().positive().default(1e-2).describe("MeZO-LoRA's ε"),
  loraRank: z.number().int().positive().default(8).describe("LoRA rank (attention projections)"),
  loraAlpha: z.number().positive().default(16).describe("LoRA α"),
  mezoGridSteps: z.number().int().positive().default(1000).describe("steps of each MeZO lr-grid run"),
  longBudget: z.number().positive().default(20).describe("MeZO's long budget, in Adam fine-tuning wall-clocks"),
  mezoMaxSteps: z.number().int().positive().default(3000).describe("cap on MeZO's long run (steps)"),
  mezoEvalEvery: z.number().int().positive().default(250).describe("MeZO runs: dev/test evaluation interval"),
  epsSweep: z.array(z.number().positive()).default([1e-4, 1e-3, 1e-2]).describe("ε values at the chosen MeZO lr"),
  epsSteps: z.number().int().positive().default(500).describe("steps of each ε-sensitivity run"),
  sweep: z.array(z.string().regex(/^\d+x\d+$/)).default(["64x2", "128x4", "256x4", "256x8"])
    .describe("memory sweep: GPT sizes as <dim>x<layers> (256x4 is GPT-small)"),
  sweepBatch: z.number().int().positive().default(16).describe("memory sweep: sequences per batch"),
  sweepContext: z.number().int().positive().default(128).describe("memory sweep: sequence length"),
  sweepSteps: z.number().int().positive().default(2).describe("memory sweep: measured steps per cell (after one)"),
  evalLimit: z.number().int().positive().default(1000).describe("evaluate on at most this many dev/test names"),
  pretrained: z.string().default("").describe(
    "checkpoint file of the pretrained LM: loaded when it exists (and matches the config), else written after " +
      "pretraining (keep it out of the repository, e.g. under /tmp); empty: pretrain in the run",
  ),
});

type Config = z.infer<typeof schema>;

/** One evaluation of a fine-tuning run. */
interface EvalPoint {
  step: number;
  dev: number;
  test: number;
}

/** What a fine-tuning run measured. */
interface FineTune {
  curve: EvalPoint[];
  msPerStep: number;
  peakBytes: number;
  steps: number;
  trainMs: number;
  trainableParams: number;
}

/** The evaluation with the best dev accuracy among those at or before `maxStep` (the first on ties). */
function bestOnDev(curve: readonly EvalPoint[], maxStep = Infinity): EvalPoint {
  let best: EvalPoint | undefined;
  for (const p of curve) if (p.step <= maxStep && (!best || p.dev > best.dev)) best = p;
  if (!best) throw new RangeError(`no evaluation at or before step ${maxStep}`);
  return best;
}

interface Task {
  corpus: CharCorpus;
  train: PromptArrays;
  dev: Batch[];
  test: Batch[];
  majority: { label: number; accuracy: number };
}

/** A model's parameters held outside tfjs, so every run starts from its own copy of the pretrained values. */
type Snapshot = Map<string, { shape: number[]; data: Float32Array }>;

function snapshotOf(params: Params): Snapshot {
  return new Map(
    Object.entries(params).map(([k, v]) => [k, { shape: v.shape.slice(), data: Float32Array.from(v.dataSync()) }]),
  );
}

/** `model` with new tensors from `snap` (the caller disposes them). */
function instantiate(model: Model, snap: Snapshot): Model {
  const params: Params = {};
  for (const [k, { shape, data }] of snap) params[k] = tf.tensor(data, shape, "float32");
  return { ...model, params };
}

/**
 * Trains the model `make()` builds with `options` on shuffled epochs of the training prompts, `steps(msPerStep)`
 * steps (decided after 20 timed steps), evaluating dev and test at every multiple of `every` and at each of
 * `extra(msPerStep)`, then disposes it. The peak is the meter's, above the live bytes before the model was built
 * (the evaluation batches): parameters, optimizer state and the step's transients.
 */
function fineTune(
  make: () => Model,
  options: TrainerOptions<unknown>,
  task: Task,
  config: Config,
  steps: (msPerStep: number) => number,
  every: number,
  extra: (msPerStep: number) => number[] = () => [],
  log: (m: string) => void = () => {},
  after?: (model: Model) => void,
): FineTune {
  const m = meter();
  const ambient = m.live;
  const model = make();
  const trainable = treeSize(trainableParams(model));
  const trainer = new Trainer(model, { ...options, seed: config.seed } as TrainerOptions<unknown>);
  const rng = new Rng(config.seed).fork("fine-tune batches");
  let order = rng.permutation(task.train.n), pos = 0;
  const curve: EvalPoint[] = [];
  let peak = 0, timedMs = 0, timed = 0, total = steps(NaN), at = new Set<number>();
  try {
    for (let s = 1; s <= total; s++) {
      if (pos + config.batch > order.length) {
        order = rng.permutation(task.train.n);
        pos = 0;
      }
      const batch = promptBatch(task.train, order.subarray(pos, pos + config.batch));
      pos += config.batch;
      m.resetPeak();
      const r = trainer.step(batch);
      peak = Math.max(peak, m.peak - ambient);
      disposeBatch(batch);
      if (s > 3) {
        timedMs += r.ms;
        timed++;
      }
      if (s === 23) {
        total = Math.max(s, steps(timedMs / timed));
        at = new Set(extra(timedMs / timed));
      }
      if (s % every === 0 || s === total || at.has(s)) {
        curve.push({ step: s, dev: accuracyOn(model, task.dev).accuracy, test: accuracyOn(model, task.test).accuracy });
        if (s % (every * 4) === 0 || s === total) log(`  step ${s}/${total}: dev ${curve.at(-1)!.dev.toFixed(3)}`);
      }
    }
    after?.(model);
  } finally {
    trainer.dispose();
    disposeTree(model.params);
  }
  const msPerStep = timed > 0 ? timedMs / timed : NaN;
  return { curve, msPerStep, peakBytes: peak, steps: total, trainMs: msPerStep * total, trainableParams: trainable };
}

/** The row of a chosen checkpoint. */
function tableRow(technique: string, budget: string, r: FineTune, best: EvalPoint, extra: Row | object = {}): Row {
  return {
    section: "table",
    technique,
    model: "",
    budget,
    accuracy: best.test,
    devAccuracy: best.dev,
    peakMiB: mib(r.peakBytes),
    msPerStep: r.msPerStep,
    steps: best.step,
    runSteps: r.steps,
    trainableParams: r.trainableParams,
    ...extra,
  };
}

/** What a pretrained checkpoint must match to be reused. */
function checkpointKey(config: Config, corpus: CharCorpus): string {
  const { seed, dim, layers, heads, lmContext, pretrainSteps, pretrainBatch, pretrainLr } = config;
  return JSON.stringify({
    seed,
    dim,
    layers,
    heads,
    lmContext,
    pretrainSteps,
    pretrainBatch,
    pretrainLr,
    vocab: corpus.vocab,
  });
}

/** Loads the pretrained LM from `path` if it holds one for this config, else pretrains it and writes it there. */
async function loadOrPretrain(
  corpus: CharCorpus,
  config: Config,
  log: (m: string) => void,
): Promise<{ lm: Gpt; valLoss: number }> {
  const key = checkpointKey(config, corpus);
  if (config.pretrained !== "") {
    try {
      const saved = JSON.parse(await Deno.readTextFile(config.pretrained));
      if (saved.key === key) {
        const lm = createLm(corpus, config);
        disposeTree(lm.params);
        for (const [k, v] of Object.entries(saved.params as Record<string, { shape: number[]; data: number[] }>)) {
          lm.params[k] = tf.tensor(Float32Array.from(v.data), v.shape, "float32");
        }
        log(`loaded the pretrained LM from ${config.pretrained}`);
        return { lm, valLoss: saved.valLoss };
      }
      log(`${config.pretrained} holds another configuration: pretraining again`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const r = pretrain(corpus, config, log);
  if (config.pretrained !== "") {
    const params = Object.fromEntries(
      Object.entries(r.lm.params).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.dataSync()) }]),
    );
    await Deno.writeTextFile(config.pretrained, JSON.stringify({ key, valLoss: r.valLoss, params }));
  }
  return r;
}

function createLm(corpus: CharCorpus, config: Config): Gpt {
  return createGpt(
    { vocab: corpus.vocabSize, context: config.lmContext, dim: config.dim, layers: config.layers, heads: config.heads },
    { seed: config.seed },
  );
}

/** Pretrains the experiment's GPT on the names corpus (every name but the test split's). */
function pretrain(corpus: CharCorpus, config: Config, log: (m: string) => void): { lm: Gpt; valLoss: number } {
  const lm = createLm(corpus, config);
  const steps = config.pretrainSteps;
  const lr = warmupCosineSchedule({
    peak: config.pretrainLr,
    warmupSteps: Math.ceil(steps / 20),
    totalSteps: steps,
    end: config.pretrainLr / 10,
    init: config.pretrainLr / 100,
  });
  const r = runLm({
    model: lm,
    optimizer: adamw({ lr, weightDecay: 0.01 }),
    data: corpus,
    steps,
    batch: config.pretrainBatch,
    context: config.lmContext,
    seed: config.seed,
    evalBatches: 8,
    log,
    logEvery: 500,
  });
  return { lm, valLoss: r.evalLoss };
}

/**
 * Peak bytes above `ambient` (the live bytes before the model was built) of a forward (inference) of `model` on
 * `batch`, or of a step of `options` after one warmup step; and the mean ms.
 */
function stepPeak(
  model: Model,
  options: TrainerOptions<unknown> | "inference",
  batch: Batch,
  steps: number,
  ambient: number,
): { peak: number; ms: number } {
  const m = meter();
  if (options === "inference") {
    forwardLoss(model, batch);
    let peak = 0, ms = 0;
    for (let i = 0; i < steps; i++) {
      m.resetPeak();
      const t0 = performance.now();
      forwardLoss(model, batch);
      ms += performance.now() - t0;
      peak = Math.max(peak, m.peak - ambient);
    }
    return { peak, ms: ms / steps };
  }
  const trainer = new Trainer(model, options);
  try {
    trainer.step(batch);
    let peak = 0, ms = 0;
    for (let i = 0; i < steps; i++) {
      m.resetPeak();
      ms += trainer.step(batch).ms;
      peak = Math.max(peak, m.peak - ambient);
    }
    return { peak, ms: ms / steps };
  } finally {
    trainer.dispose();
  }
}

/** Figure 3 in small: the whole-step peak of each method against GPT size, one LM batch of the names corpus. */
function memorySweep(corpus: CharCorpus, config: Config, log: (m: string) => void): Row[] {
  const rows: Row[] = [];
  const T = config.sweepContext, B = config.sweepBatch;
  const arrays = sampleLmBatch(corpus.train, B, T, new Rng(config.seed).fork("sweep"));
  const batch = tokenBatch(arrays, B, T);
  const lora = { rank: config.loraRank, alpha: config.loraAlpha, seed: config.seed };
  const methods: [string, (m: Gpt) => [Model, TrainerOptions<unknown> | "inference"]][] = [
    ["inference", (m) => [m, "inference"]],
    ["mezo", (m) => [m, { step: mezo({ lr: 1e-6, eps: 1e-3 }) }]],
    ["mezo-lora", (m) => [withLora(m, lora), { step: mezo({ lr: 1e-4, eps: 1e-2 }) }]],
    ["lora-ft-adam", (m) => [withLora(m, lora), { optimizer: adam({ lr: 1e-3 }) }]],
    ["ft-adam", (m) => [m, { optimizer: adam({ lr: 1e-4 }) }]],
  ];
  try {
    for (const size of config.sweep) {
      const [dim, layers] = size.split("x").map(Number);
      const label = `gpt-D${dim}-L${layers}`;
      let inference = NaN;
      for (const [name, build] of methods) {
        const ambient = meter().live;
        const gpt = createGpt({ vocab: corpus.vocabSize, context: T, dim, layers, heads: 4 }, { seed: config.seed });
        const [model, options] = build(gpt);
        try {
          const r = stepPeak(model, options, batch, config.sweepSteps, ambient);
          if (name === "inference") inference = r.peak;
          log(`memory ${label} ${name}: ${mib(r.peak).toFixed(1)} MiB, ${r.ms.toFixed(0)} ms`);
          rows.push({
            section: "memory",
            technique: name,
            model: label,
            params: treeSize(gpt.params),
            peakMiB: mib(r.peak),
            peakVsInference: r.peak / inference,
            msPerStep: r.ms,
          });
        } finally {
          disposeTree(model.params);
        }
      }
    }
  } finally {
    disposeBatch(batch);
  }
  return rows;
}

/**
 * ms to compute `θ + ε·z` for a 2²⁰-element tensor with the fused kernel (SIMD on the wasm heap) and with the stock
 * path (the definition in JS on a copy), for both distributions: the cost of regenerating z, 3 times per step.
 */
function kernelTiming(rounds: number): Row[] {
  const theta = tf.randomNormal([1 << 20], 0, 0.02, "float32", 1);
  const rows: Row[] = [];
  try {
    for (const kind of ["gaussian", "rademacher"] as const) {
      for (const path of ["fused", "stock"] as const) {
        const attrs = { a: 1, c: 1e-3, key: 12345, kind };
        const run = () => (path === "fused" ? axpz(theta, attrs) : axpzStock(theta, attrs));
        run().dispose(); // warm up
        const t0 = performance.now();
        for (let i = 0; i < rounds; i++) run().dispose();
        rows.push({
          section: "kernel",
          technique: `axpz-${kind}`,
          model: path === "fused" && axpz.active() ? "fused (SIMD)" : "stock (JS definition)",
          msPerStep: (performance.now() - t0) / rounds,
          params: 1 << 20,
        });
      }
    }
  } finally {
    theta.dispose();
  }
  return rows;
}

/** The MeZO experiment. */
export const mezoExperiment = defineExperiment({
  name: "mezo",
  description: "MeZO vs zero-shot / linear probe / Adam (full, LoRA) on a prompted task after char-LM pretraining; " +
    "memory vs model size",
  schema: schema.strict(),
  quick: {
    lmContext: 24,
    pretrainSteps: 60,
    pretrainBatch: 16,
    ftSteps: 30,
    ftLrs: [1e-3],
    loraLrs: [3e-3],
    lpSteps: 30,
    lpLrs: [1e-2],
    evalEvery: 10,
    mezoLrs: [1e-4],
    mezoLoraLrs: [1e-2],
    mezoGridSteps: 40,
    longBudget: 2,
    mezoMaxSteps: 120,
    mezoEvalEvery: 20,
    epsSweep: [1e-3],
    epsSteps: 30,
    sweep: ["64x2"],
    sweepContext: 32,
    sweepBatch: 4,
    sweepSteps: 1,
    evalLimit: 200,
  },
  columns: [
    "section",
    "technique",
    "model",
    "budget",
    "accuracy",
    "devAccuracy",
    "peakMiB",
    "msPerStep",
    "steps",
    "runSteps",
    "lr",
    "eps",
    "trainableParams",
    "params",
    "peakVsInference",
  ],
  async run(config, ctx) {
    const log = ctx.log;
    if (config.lmContext < PROMPT_CONTEXT) {
      throw new RangeError(
        `Cannot run mezo: 'lmContext' must be at least the prompt length ${PROMPT_CONTEXT}: current value is ${config.lmContext}`,
      );
    }
    const data = promptSplits(await loadNameGender({ seed: config.seed }), 500);
    const corpus = pretrainCorpus(data, config.seed);
    const limit = <T>(a: T[]) => a.slice(0, config.evalLimit);
    const dev = promptArrays(limit(data.dev), corpus), test = promptArrays(limit(data.test), corpus);
    const train = promptArrays(data.train, corpus);
    const males = data.train.filter((e) => e.label === 1).length;
    const majorityLabel = males * 2 > data.train.length ? 1 : 0;
    const testMajority = test.labels.filter((l) => l === majorityLabel).length / test.n;
    const task: Task = {
      corpus,
      train,
      dev: promptBatches(dev, 250),
      test: promptBatches(test, 250),
      majority: { label: majorityLabel, accuracy: testMajority },
    };
    const rows: Row[] = [];
    log(`pretraining D=${config.dim} L=${config.layers} for ${config.pretrainSteps} steps`);
    const { lm, valLoss } = await loadOrPretrain(corpus, config, log);
    rows.push({
      section: "pretrain",
      technique: "char-lm",
      model: `gpt-D${config.dim}-L${config.layers}`,
      params: treeSize(lm.params),
      valLoss,
      steps: config.pretrainSteps,
    });
    // The prompted classifier's pretrained values, held outside tfjs: every run builds its own tensors from them.
    const shape = labelWordModel(lm, corpus);
    const snap = snapshotOf(shape.params);
    shape.params["head.out.w"].dispose();
    shape.params["head.out.b"].dispose();
    disposeTree(lm.params);
    const fromSnapshot = () => instantiate(shape, snap);
    try {
      // Zero-shot, and the inference peak on a fine-tuning batch: the memory MeZO is held to.
      const ambient = meter().live;
      const zeroModel = fromSnapshot();
      const probe = promptBatch(train, Array.from({ length: config.batch }, (_, i) => i));
      const inf = stepPeak(zeroModel, "inference", probe, 3, ambient);
      disposeBatch(probe);
      const zero = { dev: accuracyOn(zeroModel, task.dev).accuracy, test: accuracyOn(zeroModel, task.test).accuracy };
      disposeTree(zeroModel.params);
      rows.push({
        section: "table",
        technique: "majority",
        model: "",
        budget: "-",
        accuracy: testMajority,
        devAccuracy: dev.labels.filter((l) => l === majorityLabel).length / dev.n,
      });
      rows.push({
        section: "table",
        technique: "zero-shot",
        model: "",
        budget: "-",
        accuracy: zero.test,
        devAccuracy: zero.dev,
        peakMiB: mib(inf.peak),
        msPerStep: inf.ms,
        steps: 0,
      });

      /** Runs an lr grid, adds the grid rows, returns the run and checkpoint chosen on dev. */
      const grid = (
        technique: string,
        lrs: readonly number[],
        make: (lr: number) => [() => Model, TrainerOptions<unknown>],
        steps: (ms: number) => number,
        every: number,
        extra: Row | object = {},
        marks?: (ms: number) => number[],
      ) => {
        let chosen: { r: FineTune; best: EvalPoint; lr: number } | undefined;
        for (const lr of lrs) {
          log(`${technique} lr=${lr}`);
          const [model, options] = make(lr);
          const r = fineTune(model, options, task, config, steps, every, marks, log);
          const best = bestOnDev(r.curve);
          rows.push({ ...tableRow(technique, "grid", r, best, { lr, ...extra }), section: "grid" });
          if (!chosen || best.dev > chosen.best.dev) chosen = { r, best, lr };
        }
        return chosen!;
      };
      const headOnly = () => ({ ...fromSnapshot(), trainable: (n: string) => n.startsWith("head.out.") });
      const lora = () =>
        withLora(fromSnapshot(), { rank: config.loraRank, alpha: config.loraAlpha, seed: config.seed });

      const lp = grid(
        "linear-probe",
        config.lpLrs,
        (lr) => [headOnly, { optimizer: adam({ lr }) }],
        () => config.lpSteps,
        config.evalEvery,
      );
      rows.push(tableRow("linear-probe", "-", lp.r, lp.best, { lr: lp.lr }));
      const ft = grid(
        "ft-adam",
        config.ftLrs,
        (lr) => [fromSnapshot, { optimizer: adam({ lr }) }],
        () => config.ftSteps,
        config.evalEvery,
      );
      rows.push(tableRow("ft-adam", "-", ft.r, ft.best, { lr: ft.lr }));
      const loraFt = grid(
        "lora-ft-adam",
        config.loraLrs,
        (lr) => [lora, { optimizer: adam({ lr }) }],
        () => config.ftSteps,
        config.evalEvery,
      );
      rows.push(tableRow("lora-ft-adam", "-", loraFt.r, loraFt.best, { lr: loraFt.lr }));

      // MeZO: the same wall-clock as the chosen Adam run, and `longBudget` times it (capped).
      const budget = ft.r.trainMs;
      const sameSteps = (ms: number) => Math.max(1, Math.round(budget / ms));
      const longSteps = (ms: number) =>
        Number.isNaN(ms)
          ? config.mezoMaxSteps
          : Math.min(config.mezoMaxSteps, Math.round(config.longBudget * budget / ms));
      const mezoRun = (technique: string, lrs: number[], eps: number, make: () => Model) => {
        // The lr grid at `mezoGridSteps` steps each, chosen on dev; then the chosen lr to the long budget (its first
        // steps are the grid run's, bit for bit: same seed, batches and directions).
        const c = grid(
          technique,
          lrs,
          (lr) => [make, { step: mezo({ lr, eps, seed: config.seed }) }],
          () => config.mezoGridSteps,
          config.mezoEvalEvery,
          { eps },
        );
        log(`${technique} lr=${c.lr}: the long run`);
        const r = fineTune(
          make,
          { step: mezo({ lr: c.lr, eps, seed: config.seed }) },
          task,
          config,
          longSteps,
          config.mezoEvalEvery,
          (ms) => [sameSteps(ms)],
          log,
        );
        // Same wall-clock: the best dev checkpoint among the evaluations up to that many steps.
        const same = Math.max(sameSteps(r.msPerStep), r.curve[0].step); // at least one evaluation
        rows.push(tableRow(technique, "same-time", r, bestOnDev(r.curve, same), { lr: c.lr, eps, runSteps: same }));
        rows.push(tableRow(technique, "long", r, bestOnDev(r.curve), { lr: c.lr, eps }));
        return c;
      };
      const full = mezoRun("mezo", config.mezoLrs, config.mezoEps, fromSnapshot);
      mezoRun("mezo-lora", config.mezoLoraLrs, config.mezoLoraEps, lora);

      // ε sensitivity at the chosen full-MeZO lr, each run logged: replaying the log rebuilds its parameters bitwise.
      for (const eps of config.epsSweep) {
        log(`mezo eps=${eps} lr=${full.lr}`);
        const mlog = new MezoLog();
        let exact = false;
        const r = fineTune(
          fromSnapshot,
          { step: mezo({ lr: full.lr, eps, seed: config.seed, log: mlog }) },
          task,
          config,
          () => config.epsSteps,
          config.mezoEvalEvery,
          undefined,
          log,
          (model) => {
            const initial = fromSnapshot().params;
            const replayed = replayMezo(mlog, initial);
            exact = Object.keys(model.params).every((k) => {
              const a = new Uint32Array(Float32Array.from(model.params[k].dataSync()).buffer);
              const b = new Uint32Array(Float32Array.from(replayed[k].dataSync()).buffer);
              return a.every((v, i) => v === b[i]);
            });
            tf.dispose([...new Set([...Object.values(replayed), ...Object.values(initial)])]);
          },
        );
        rows.push({
          ...tableRow("mezo", "eps", r, bestOnDev(r.curve), { lr: full.lr, eps }),
          section: "eps",
          finalDev: r.curve.at(-1)!.dev,
          logBytes: JSON.stringify(mlog.toJSON()).length,
          replayExact: exact,
        });
      }
    } finally {
      [...task.dev, ...task.test].forEach(disposeBatch);
    }
    rows.push(...kernelTiming(config.sweepSteps * 3));
    rows.push(...memorySweep(corpus, config, log));
    return rows;
  },
});
