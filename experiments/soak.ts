/**
 * `deno task experiment soak`: a long run of the tiny GPT with every technique (and GaLore as the optimizer), one
 * cell each, recording after every step the tfjs tensor count (`tf.memory().numTensors`) and the meter's live bytes
 * (`lib/memory/meter.ts`, unique buffers). A leak shows as growth after the warm-up: each row gives both series'
 * drift from their value after the warm-up (`flat` when both stay within `tolerancePct`) and the tensors left over
 * once the cell disposed everything.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadCharCorpus, Rng, sampleLmBatch } from "../lib/data/mod.ts";
import { meter, mib } from "../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { disposeTree } from "../lib/nn/mod.ts";
import { disposeBatch, tokenBatch, Trainer } from "../lib/train/mod.ts";
import { z } from "zod";
import { defineExperiment, type Row, runCellsInOrder } from "./_lib/experiment.ts";
import { flatness } from "./_lib/flatness.ts";
import { buildOptimizer, optimizerFields } from "./_lib/optimizers.ts";
import {
  buildTechnique,
  TECHNIQUE_NAMES,
  techniqueAppliesTo,
  techniqueFields,
  techniqueName,
} from "./_lib/techniques.ts";

/** Every technique that trains the GPT (the default `techniques`). */
const GPT_TECHNIQUES = TECHNIQUE_NAMES.filter((t) => techniqueAppliesTo(t, "gpt"));

/** The soak experiment. */
export const soak = defineExperiment({
  name: "soak",
  description: "Tiny GPT, every technique, many steps: tensor count and live bytes stay flat (no leaks)",
  schema: z.object({
    steps: z.number().int().positive().default(1000).describe("training steps per technique"),
    warmup: z.number().int().nonnegative().default(50).describe("steps before the series must be flat"),
    tolerancePct: z.number().nonnegative().default(1).describe("allowed drift after the warm-up, in percent"),
    batch: z.number().int().positive().default(4).describe("sequences per batch"),
    context: z.number().int().positive().default(32).describe("sequence length (<= 32 for the tiny preset)"),
    lr: z.number().positive().default(1e-3).describe("learning rate"),
    weightDecay: z.number().min(0).default(0.01).describe("weight decay"),
    seed: z.number().int().default(0).describe("init, batch and technique seed"),
    techniques: z.array(techniqueName()).default([...GPT_TECHNIQUES]).describe("techniques, one cell each"),
    galore: z.boolean().default(true).describe("add a cell training baseline with --optimizer=galore"),
    ...optimizerFields(),
    // The tiny GPT's projected sides are 64 wide; refresh the projectors several times during the soak.
    galoreRank: z.number().int().positive().default(16).describe("galore: rank r of the projection"),
    galoreUpdateProjGap: z.number().int().positive().default(100).describe("galore: refresh gap T"),
    ...techniqueFields(),
  }).strict(),
  quick: { steps: 16, warmup: 6, galoreUpdateProjGap: 5 },
  columns: [
    "technique",
    "model",
    "optimizer",
    "steps",
    "tensors",
    "tensorDriftPct",
    "liveMiB",
    "liveDriftPct",
    "flat",
    "leakedTensors",
    "loss",
  ],
  cells(config) {
    return [
      ...config.techniques.map((technique) => ({ technique, optimizer: String(config.optimizer) })),
      ...(config.galore ? [{ technique: "baseline", optimizer: "galore" }] : []),
    ];
  },
  async runCell(config, cell, ctx) {
    const technique = String(cell.technique), optimizer = String(cell.optimizer);
    const corpus = await loadCharCorpus({ name: "moby-dick" });
    const tensorsBefore = tf.memory().numTensors;
    const tech = buildTechnique(technique, config);
    const model = tech.prepare(createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize }, { seed: config.seed }));
    const base = buildOptimizer({ ...config, optimizer }, { lr: config.lr, weightDecay: config.weightDecay });
    const trainer = new Trainer(
      model,
      tech.step
        ? { step: tech.step, seed: config.seed }
        : { optimizer: tech.optimizer(base), source: tech.source, update: tech.update, seed: config.seed },
    );
    const m = meter(), rng = new Rng(config.seed);
    const tensors: number[] = [], live: number[] = [];
    let loss = NaN;
    try {
      for (let i = 0; i < config.steps; i++) {
        const tokens = sampleLmBatch(corpus.train, config.batch, config.context, rng);
        const batch = tokenBatch(tokens, config.batch, config.context);
        try {
          const r = trainer.step(batch);
          loss = r.loss;
          ctx.progress?.step({ step: i + 1, steps: config.steps, loss: r.loss, ms: r.ms, liveBytes: m.live });
        } finally {
          disposeBatch(batch);
        }
        tensors.push(tf.memory().numTensors);
        live.push(m.live);
      }
    } finally {
      trainer.dispose();
      tech.dispose();
      disposeTree(model.params);
    }
    const warmup = Math.min(config.warmup, config.steps - 1);
    const t = flatness(tensors, warmup), b = flatness(live, warmup);
    const row: Row = {
      technique,
      model: "gpt-tiny",
      optimizer: tech.step ? "(own step)" : optimizer,
      steps: config.steps,
      warmup,
      tensors: t.reference,
      tensorsMin: t.min,
      tensorsMax: t.max,
      tensorDriftPct: t.driftPct,
      liveMiB: mib(b.reference),
      liveMinMiB: mib(b.min),
      liveMaxMiB: mib(b.max),
      liveDriftPct: b.driftPct,
      flat: t.driftPct <= config.tolerancePct && b.driftPct <= config.tolerancePct,
      leakedTensors: tf.memory().numTensors - tensorsBefore,
      loss,
    };
    return [row];
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
