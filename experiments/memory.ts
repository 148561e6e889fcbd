/**
 * `deno task experiment memory`: what each saved-activation technique costs and saves on GPT-small and ViT-small:
 * whole-step peak by the meter (logical) and by the heap (physical: the wasm heap's break on wasm and blas, holes
 * and allocator overhead included), their ratio (fragmentation), bytes held for backward after forward (measured and
 * analytic), and ms/step, with ratios to the plain-backprop baseline of the same model. Same seed, same real batch
 * for every technique; the figures are taken at steady state, after `warmup` steps, and each configuration runs in a
 * fresh process (one cell's heap holes would inflate the next).
 * @module
 */
import { z } from "zod";
import { predictPeakSavedBytes } from "../lib/checkpoint/mod.ts";
import { loadCharCorpus, loadFashionMnist, normalizeImages, Rng, sampleLmBatch } from "../lib/data/mod.ts";
import { imageBatch } from "../lib/data/image_batches.ts";
import { backendOptions } from "../lib/backend/mod.ts";
import { meter, mib, physicalMeter } from "../lib/memory/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../lib/models/mod.ts";
import { type Batch, disposeTree, type Model, predictSavedBytes, trunkSavedSpecs } from "../lib/nn/mod.ts";
import { disposeBatch, tokenBatch, Trainer } from "../lib/train/mod.ts";
import { defineExperiment, type Row, runCellsInOrder } from "./_lib/experiment.ts";
import { buildOptimizer, optimizerFields } from "./_lib/optimizers.ts";
import {
  buildTechnique,
  COMBINATIONS,
  TECHNIQUE_NAMES,
  techniqueAppliesTo,
  techniqueFields,
  techniqueName,
} from "./_lib/techniques.ts";
import { memoryCharts } from "./_lib/charts.ts";

interface Measured {
  peak: number;
  heapPeak: number;
  heapGrowth: number;
  heapKind: string;
  /** Where the heap's bytes beyond the meter's peak go, at the end of the measured steps (wasm heap only). */
  overhead: Overhead | undefined;
  saved: number;
  predicted: number;
  /** The checkpoint plan's peak of saved bytes; null when the model freezes parameters (the count does not know). */
  predictedPeakSaved: number | null;
  ms: number;
}

/** The physical overhead (heap peak minus meter peak) by cause. */
interface Overhead {
  /** Static data and stack below the heap. */
  static: number;
  /**
   * The module's own C++ allocations (unmetered): with the heap arena, all of emmalloc's part of the heap (their
   * high-water, the free regions they left included); with emmalloc alone, those alive at the end (a lower bound).
   */
  module: number;
  /** Allocator rounding and headers of the live JS blocks. */
  rounding: number;
  /** The rest: holes between the blocks at the peak (fragmentation). */
  holes: number;
}

/** The config keys {@linkcode measureTechnique} reads (the technique and optimizer option keys are read by name). */
interface MeasureConfig extends Record<string, unknown> {
  lr: number;
  weightDecay: number;
  warmup: number;
  steps: number;
}

function measureTechnique(make: () => Model, batch: Batch, name: string, config: MeasureConfig): Measured {
  const optimizer = buildOptimizer(config, { lr: config.lr, weightDecay: config.weightDecay });
  const tech = buildTechnique(name, config);
  const model = tech.prepare(make());
  const trainer = tech.step
    ? new Trainer(model, { step: tech.step })
    : new Trainer(model, { optimizer: tech.optimizer(optimizer), source: tech.source, update: tech.update });
  const m = meter(), heap = physicalMeter();
  try {
    for (let i = 0; i < config.warmup; i++) trainer.step(batch);
    let peak = 0, heapPeak = 0, saved = 0, ms = 0;
    const heapStart = heap.current;
    for (let i = 0; i < config.steps; i++) {
      m.resetPeak();
      heap.resetPeak();
      const r = trainer.step(batch);
      peak = Math.max(peak, m.peak);
      heapPeak = Math.max(heapPeak, heap.peak);
      saved = Math.max(saved, r.savedBytes);
      ms += r.ms;
    }
    const parts = heap.breakdown?.();
    const overhead = parts && (() => {
      const arenaLive = parts.arenaBytes - parts.arenaFreeBytes;
      const fixed = {
        static: parts.heapBase,
        module: parts.arenaBytes > 0 ? parts.emmallocBytes - (parts.jsRegionBytes - arenaLive) : parts.internalBytes,
        rounding: parts.jsRegionBytes - parts.jsBytes,
      };
      return { ...fixed, holes: heapPeak - peak - Object.values(fixed).reduce((a, b) => a + b, 0) };
    })();
    const physical = { peak, heapPeak, heapGrowth: heap.current - heapStart, heapKind: heap.kind, overhead };
    // A whole training step (MeZO) saves nothing for backward.
    if (tech.step) return { ...physical, saved, predicted: 0, predictedPeakSaved: 0, ms: ms / config.steps };
    const trunk = tech.trunk(model.layers);
    // The analytic counts describe backprop through the (transformed) trunk; another gradient source has its own.
    if (tech.source.name !== "backprop") {
      return { ...physical, saved, predicted: NaN, predictedPeakSaved: NaN, ms: ms / config.steps };
    }
    const predicted = predictSavedBytes(
      trunkSavedSpecs(trunk, model.loss, batch.x.shape, !!batch.weights),
      tech.selector,
      model.trainable,
    );
    const predictedPeakSaved = model.trainable ? null : predictPeakSavedBytes(trunk, batch.x.shape, {
      selector: tech.selector,
      loss: model.loss,
    });
    return {
      peak,
      heapPeak,
      heapGrowth: heap.current - heapStart,
      heapKind: heap.kind,
      overhead,
      saved,
      predicted,
      predictedPeakSaved,
      ms: ms / config.steps,
    };
  } finally {
    trainer.dispose();
    tech.dispose();
    disposeTree(model.params);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * One row per technique and model from the rows of every round (each with its ratios to its own round's baseline):
 * the memory figures of the first round (they repeat: same seed, same batch), ms/step and its ratio as medians over
 * the rounds, with their spread over the rounds (`msPerStepMin`/`Max`, `timeRatioMin`/`Max`).
 */
export function combineRounds(rows: readonly Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.technique}\u0000${r.model}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const { round: _round, ...first } = g.find((r) => r.round === 1) ?? g[0];
    const ms = g.map((r) => Number(r.msPerStep)), ratios = g.map((r) => r.timeRatio);
    const known = ratios.every((x) => typeof x === "number");
    return {
      ...first,
      rounds: g.length,
      msPerStep: median(ms),
      msPerStepMin: Math.min(...ms),
      msPerStepMax: Math.max(...ms),
      timeRatio: known ? median(ratios as number[]) : null,
      timeRatioMin: known ? Math.min(...ratios as number[]) : null,
      timeRatioMax: known ? Math.max(...ratios as number[]) : null,
    };
  });
}

/** The memory experiment. */
export const memory = defineExperiment({
  name: "memory",
  description:
    "Peak MiB by the meter and by the heap, saved-activation MiB and ms/step of every technique (checkpointing, Mesa, WTA-CRS, LoRA, MeZO and combinations), on GPT-small and ViT-small",
  schema: z.object({
    techniques: z.array(techniqueName()).default([...TECHNIQUE_NAMES]).describe(
      `techniques to compare (comma list of the default's names, or variants joined with "+", e.g. ${
        COMBINATIONS[0]
      }); baseline is always measured first`,
    ),
    gptDepths: z.array(z.number().int().positive()).default([4, 8]).describe("GPT-small depths (layers)"),
    gptBatch: z.number().int().positive().default(16).describe("GPT sequences per batch (T = 128)"),
    vit: z.boolean().default(true).describe("also measure ViT-small"),
    vitBatch: z.number().int().positive().default(128).describe("ViT images per batch"),
    vitPatch: z.number().int().positive().default(4).describe("ViT patch size"),
    warmup: z.number().int().nonnegative().default(8).describe(
      "steps per technique before measuring (the heap reaches steady state)",
    ),
    steps: z.number().int().positive().default(2).describe("measured (timed) steps per technique"),
    rounds: z.number().int().positive().default(1).describe(
      "rounds: every cell runs once per round, rounds one after another; ms/step and its ratio are the medians over " +
        "the rounds of each round's value (ratio to that round's baseline), so drift hits every technique alike",
    ),
    seed: z.number().int().default(0).describe("init, batch and technique seed"),
    lr: z.number().positive().default(1e-4).describe("optimizer learning rate (the figures do not depend on it)"),
    weightDecay: z.number().min(0).default(0.01).describe("weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
    ...optimizerFields(),
    ...techniqueFields(),
  }).strict(),
  quick: { gptDepths: [2], gptBatch: 2, vitBatch: 8, warmup: 1, steps: 1 },
  freshProcess: true,
  columns: [
    "technique",
    "model",
    "peakMiB",
    "heapPeakMiB",
    "fragmentation",
    "peakRatio",
    "heapPeakRatio",
    "savedMiB",
    "savedRatio",
    "predictedSavedMiB",
    "msPerStep",
    "timeRatio",
  ],
  cells(config) {
    const techniques = ["baseline", ...config.techniques.filter((t) => t !== "baseline")];
    const gpt = techniques.filter((t) => techniqueAppliesTo(t, "gpt"));
    const vit = techniques.filter((t) => techniqueAppliesTo(t, "vit")); // StreamBP trains causal LMs only
    const once = [
      ...config.gptDepths.flatMap((layers) => gpt.map((technique) => ({ model: "gpt", layers, technique }))),
      ...(config.vit ? vit.map((technique) => ({ model: "vit", layers: VIT_PRESETS.small.layers, technique })) : []),
    ];
    if (config.rounds === 1) return once;
    return Array.from({ length: config.rounds }, (_, i) => once.map((c) => ({ ...c, round: i + 1 }))).flat();
  },
  async runCell(config, cell) {
    const technique = String(cell.technique), layers = Number(cell.layers);
    let label: string, make: () => Model, batch: Batch;
    if (cell.model === "gpt") {
      const corpus = await loadCharCorpus({ name: "moby-dick" });
      const context = GPT_PRESETS.small.context;
      batch = tokenBatch(
        sampleLmBatch(corpus.train, config.gptBatch, context, new Rng(config.seed)),
        config.gptBatch,
        context,
      );
      make = () => createGpt({ ...GPT_PRESETS.small, layers, vocab: corpus.vocabSize }, { seed: config.seed });
      label = `gpt-small-L${layers}/B${config.gptBatch}`;
    } else {
      const train = normalizeImages(await loadFashionMnist({ split: "train", limit: config.vitBatch }));
      batch = imageBatch(train, Int32Array.from({ length: config.vitBatch }, (_, i) => i));
      make = () => createVit({ ...VIT_PRESETS.small, patch: config.vitPatch }, { seed: config.seed });
      label = `vit-small-p${config.vitPatch}/B${config.vitBatch}`;
    }
    try {
      const r = measureTechnique(make, batch, technique, config);
      return [{
        technique,
        model: label,
        peakMiB: mib(r.peak),
        heapPeakMiB: mib(r.heapPeak),
        fragmentation: r.heapPeak / r.peak,
        heapKind: r.heapKind,
        heapGrowthMiB: mib(r.heapGrowth),
        // heapPeakMiB - peakMiB by cause (wasm heap): static data and stack, the module's own allocations,
        // allocator rounding, and holes between blocks at the peak
        staticMiB: r.overhead ? mib(r.overhead.static) : null,
        moduleMiB: r.overhead ? mib(r.overhead.module) : null,
        roundingMiB: r.overhead ? mib(r.overhead.rounding) : null,
        holesMiB: r.overhead ? mib(r.overhead.holes) : null,
        warmupSteps: config.warmup,
        heapAllocator: backendOptions().heap,
        savedMiB: mib(r.saved),
        predictedSavedMiB: Number.isNaN(r.predicted) ? null : mib(r.predicted),
        predictedPeakSavedMiB: r.predictedPeakSaved === null || Number.isNaN(r.predictedPeakSaved)
          ? null
          : mib(r.predictedPeakSaved),
        msPerStep: r.ms,
        ...(cell.round === undefined ? {} : { round: Number(cell.round) }),
      }];
    } finally {
      disposeBatch(batch);
    }
  },
  finalize(rows) {
    return rows.some((r) => r.round !== undefined) ? combineRounds(rows.map(withRatios)) : rows.map(withRatios);
    // Ratios to the baseline row of the same model and round (cells run baseline first for each model).
    function withRatios(row: Row): Row {
      const base = rows.find((b) => b.model === row.model && b.technique === "baseline" && b.round === row.round);
      if (!base) return row;
      const ratio = (k: string) => (row[k] === null ? null : Number(row[k]) / Number(base[k]));
      return {
        ...row,
        peakRatio: ratio("peakMiB"),
        heapPeakRatio: ratio("heapPeakMiB"),
        savedRatio: ratio("savedMiB"),
        peakSavedRatio: ratio("predictedPeakSavedMiB"),
        timeRatio: ratio("msPerStep"),
      };
    }
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
  charts: (rows) => memoryCharts(rows),
});
