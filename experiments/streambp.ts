/**
 * `deno task experiment streambp`: the longest sequence that fits a memory budget, and the time per token, for plain
 * backprop, per-block checkpointing, √n checkpointing and StreamBP at several chunk sizes, on GPT-small with a BPE
 * vocabulary (gpt-tokenizer's r50k_base over Moby Dick: 15,729 ids, so the logits matter). In the spirit of the
 * StreamBP paper's Figure 3 / Table 3 (max length per method), Table 1 (BP time) and Figure 5 (chunk size).
 *
 * - Max length: for each method and budget, a bracketing search on T in which every candidate is measured: one
 *   gradient computation (`lossAndGrads`: forward and backward, no optimizer) on a fresh model whose position table
 *   has T entries (`context = T`) and a real batch of `batch × T` tokens; the memory is the meter's peak of that call
 *   counting everything live (parameters, batch, gradients, activations, transients).
 * - Time: ms per token of `lossAndGrads` at equal lengths, the methods interleaved round by round (the ratios are
 *   within one run), medians over the rounds; the peak at that length is recorded too.
 * - Ablation: StreamBP's chunk size, with keys/values computed once per block pass ("cache") or per chunk
 *   ("recompute", as the original code), at one length: ms/token and peak.
 *
 * The defaults are sized for about 6 minutes on 2 shared cores (one budget, one StreamBP chunk size plus one variant
 * in the searches, two timed lengths); widen `budgetsMiB`, `chunks` and `timeLengths` for a fuller sweep, e.g.
 * `--budgetsMiB=112,128 --chunks=128,256` (GPT-small's parameters and gradients alone take 86 MiB).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { BPE_ENCODINGS, type BpeCorpus, loadBpeCorpus, Rng, sampleLmBatch } from "../lib/data/mod.ts";
import { meter, mib } from "../lib/memory/mod.ts";
import { createGpt, type Gpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { type Batch, disposeTree, type GradSource, treeBytes } from "../lib/nn/mod.ts";
import { disposeBatch, tokenBatch } from "../lib/train/mod.ts";
import { barChartSpec, lineChartSpec } from "../lib/viz/mod.ts";
import { type Cell, defineExperiment, type NamedChart, type Row, runCellsInOrder } from "./_lib/experiment.ts";
import { searchMaxLength } from "./_lib/max_length.ts";
import { buildTechnique, techniqueName } from "./_lib/techniques.ts";

const CHECKPOINT = "checkpoint-every";

/** A StreamBP variant: `rows[/logitsRows][@maxScores]`. */
const VARIANT = /^(\d+)(?:\/(\d+))?(?:@(\d+))?$/;

const schema = z.object({
  budgetsMiB: z.array(z.number().positive()).default([112]).describe(
    "memory budgets in MiB: the meter's peak of one gradient computation (parameters, gradients, activations)",
  ),
  methods: z.array(techniqueName()).default(["baseline", CHECKPOINT, "checkpoint-sqrt", "streambp"]).describe(
    "methods of the max-length search (technique rows; streambp runs at each of 'chunks')",
  ),
  chunks: z.array(z.number().int().positive()).default([256]).describe(
    "StreamBP chunk sizes (blocks and LM head) of the max-length search and the timing",
  ),
  variants: z.array(z.string().regex(VARIANT, "expected rows[/logitsRows][@maxScores], e.g. 256/64@262144"))
    .default(["256/64@262144"]).describe(
      "more StreamBP configurations, rows[/logitsRows][@maxScores]: block chunk rows, LM-head chunk rows, cap on a " +
        "block chunk's attention scores",
    ),
  timeLengths: z.array(z.number().int().positive()).default([512, 1024]).describe(
    "sequence lengths of the ms/token comparison (every method at each)",
  ),
  timeRounds: z.number().int().positive().default(3).describe("interleaved timed rounds per length (median)"),
  ablationLength: z.number().int().nonnegative().default(1024).describe(
    "sequence length of the chunk ablation (0: none)",
  ),
  ablationChunks: z.array(z.number().int().positive()).default([64, 128, 256]).describe(
    "StreamBP chunk sizes of the ablation (each with keys/values cached and recomputed)",
  ),
  ablationRounds: z.number().int().positive().default(2).describe("interleaved timed rounds of the ablation"),
  batch: z.number().int().positive().default(1).describe("sequences per batch"),
  dim: z.number().int().positive().default(GPT_PRESETS.small.dim).describe("GPT width (GPT-small: 256)"),
  layers: z.number().int().positive().default(GPT_PRESETS.small.layers).describe("GPT blocks (GPT-small: 4)"),
  heads: z.number().int().positive().default(GPT_PRESETS.small.heads).describe("GPT attention heads (GPT-small: 4)"),
  encoding: z.enum(BPE_ENCODINGS as [string, ...string[]]).default("r50k_base").describe("gpt-tokenizer encoding"),
  maxVocab: z.number().int().nonnegative().default(0).describe(
    "keep the most frequent BPE ids plus one unknown id (0: every id Moby Dick uses)",
  ),
  startLength: z.number().int().positive().default(256).describe("first length of each search"),
  resolution: z.number().min(0).lt(1).default(0.05).describe("search stops when the bracket is this fraction of T"),
  limit: z.number().int().positive().default(8192).describe("longest length tried"),
  seed: z.number().int().default(0).describe("init and batch seed"),
}).strict();

type Config = z.infer<typeof schema>;

let corpusCache: { key: string; corpus: BpeCorpus } | null = null;

async function corpusOf(config: Config): Promise<BpeCorpus> {
  const key = `${config.encoding}/${config.maxVocab}`;
  if (corpusCache?.key !== key) {
    const corpus = await loadBpeCorpus({
      name: "moby-dick",
      encoding: config.encoding as (typeof BPE_ENCODINGS)[number],
      ...(config.maxVocab > 0 ? { maxVocab: config.maxVocab } : {}),
    });
    corpusCache = { key, corpus };
  }
  return corpusCache.corpus;
}

function modelLabel(config: Config, vocab: number): string {
  return `gpt-d${config.dim}-L${config.layers}/V${vocab}/B${config.batch}`;
}

/** A method of the comparison: its row label and how to build its gradient source. */
interface Method {
  label: string;
  technique: string;
  chunk?: number;
  logitsChunk?: number;
  maxScores?: number;
}

function streamMethod(technique: string, chunk: number, logitsChunk = 0, maxScores = 0): Method {
  const label = `${technique}-c${chunk}${logitsChunk ? `-l${logitsChunk}` : ""}${maxScores ? `-s${maxScores}` : ""}`;
  return { label, technique, chunk, ...(logitsChunk ? { logitsChunk } : {}), ...(maxScores ? { maxScores } : {}) };
}

function methodsOf(config: Config): Method[] {
  return config.methods.flatMap((technique): Method[] => {
    if (!technique.startsWith("streambp") || technique.includes("+")) return [{ label: technique, technique }];
    const variants = config.variants.map((v) => {
      const [, rows, logits, cap] = VARIANT.exec(v)!;
      return streamMethod(technique, Number(rows), Number(logits ?? 0), Number(cap ?? 0));
    });
    return [...config.chunks.map((chunk) => streamMethod(technique, chunk)), ...variants];
  });
}

/** A model, a batch and a source for one length; `dispose` frees them. */
interface Setup {
  gpt: Gpt;
  batch: Batch;
  source: GradSource;
  /** Bytes of the model's parameters and the batch. */
  ownBytes: number;
  dispose(): void;
}

function setup(config: Config, corpus: BpeCorpus, method: Method, t: number): Setup {
  const tech = buildTechnique(method.technique, {
    ...config,
    ...(method.chunk
      ? {
        streambpChunk: method.chunk,
        streambpLogitsChunk: method.logitsChunk ?? 0,
        streambpMaxScores: method.maxScores ?? 0,
      }
      : {}),
  });
  const gpt = createGpt({
    vocab: corpus.vocabSize,
    context: t,
    dim: config.dim,
    layers: config.layers,
    heads: config.heads,
    mlpRatio: GPT_PRESETS.small.mlpRatio,
  }, { seed: config.seed });
  const rng = new Rng(config.seed).fork("streambp-batch");
  const batch = tokenBatch(sampleLmBatch(corpus.train, config.batch, t, rng), config.batch, t);
  const batchBytes = [batch.x, batch.y].reduce((n, x) => n + 4 * x.size, 0);
  return {
    gpt,
    batch,
    source: tech.source,
    ownBytes: treeBytes(gpt.params) + batchBytes,
    dispose: () => {
      disposeBatch(batch);
      disposeTree(gpt.params);
      tech.dispose();
    },
  };
}

/** One gradient computation: its peak (everything live, parameters included) and wall time. */
function measureStep(s: Setup, liveBefore: number): { peak: number; ms: number; loss: number } {
  const m = meter();
  m.resetPeak();
  const t0 = performance.now();
  const r = s.source.lossAndGrads(s.gpt, s.batch);
  const ms = performance.now() - t0;
  const peak = m.peak - liveBefore;
  tf.dispose(Object.values(r.grads));
  return { peak, ms, loss: r.loss };
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function maxLengthRows(config: Config, corpus: BpeCorpus, method: Method, budgetMiB: number, log: (m: string) => void) {
  const m = meter();
  const budget = budgetMiB * 1024 * 1024;
  const r = searchMaxLength((t) => {
    const live = m.live;
    const s = setup(config, corpus, method, t);
    try {
      const { peak, ms } = measureStep(s, live);
      log(
        `  ${method.label} @ ${budgetMiB} MiB: T=${t} peak ${mib(peak).toFixed(1)} MiB (${(ms / 1000).toFixed(1)} s)`,
      );
      return peak;
    } finally {
      s.dispose();
    }
  }, { budget, start: config.startLength, resolution: config.resolution, limit: config.limit });
  const model = modelLabel(config, corpus.vocabSize);
  const rows: Row[] = [{
    technique: method.label,
    model,
    kind: "maxLength",
    budgetMiB,
    maxT: r.maxT,
    peakMiB: mib(r.peakAtMax),
    firstMissT: Number.isFinite(r.firstMiss) ? r.firstMiss : null,
    measured: r.points.length,
  }];
  for (const p of r.points) {
    rows.push({ technique: method.label, model, kind: "point", budgetMiB, t: p.t, peakMiB: mib(p.peak) });
  }
  return rows;
}

/** Times `methods` at length `t`, interleaved over rounds (one warm-up step each first). */
function timeRows(
  config: Config,
  corpus: BpeCorpus,
  methods: Method[],
  t: number,
  kind: string,
  rounds: number,
  log: (m: string) => void,
): Row[] {
  const m = meter();
  const times = methods.map(() => [] as number[]), peaks = methods.map(() => 0), losses = methods.map(() => 0);
  const setups = methods.map((method) => setup(config, corpus, method, t));
  try {
    setups.forEach((s) => measureStep(s, m.live)); // warm-up
    for (let round = 0; round < rounds; round++) {
      setups.forEach((s, i) => {
        // The other methods' models and batches are live too: the peak is measured above them, plus this
        // method's own parameters and batch (the max-length searches' measure).
        const r = measureStep(s, m.live - s.ownBytes);
        times[i].push(r.ms);
        peaks[i] = Math.max(peaks[i], r.peak);
        losses[i] = r.loss;
      });
      log(
        `  ${kind} T=${t} round ${round + 1}: ${
          methods.map((mm, i) => `${mm.label} ${times[i].at(-1)!.toFixed(0)} ms`).join(", ")
        }`,
      );
    }
  } finally {
    setups.forEach((s) => s.dispose());
  }
  return methods.map((method, i) => ({
    technique: method.label,
    model: modelLabel(config, corpus.vocabSize),
    kind,
    t,
    ...(method.chunk ? { chunk: method.chunk } : {}),
    ...(method.logitsChunk ? { logitsChunk: method.logitsChunk } : {}),
    ...(method.maxScores ? { maxScores: method.maxScores } : {}),
    msPerToken: median(times[i]) / (config.batch * t),
    stepPeakMiB: mib(peaks[i]),
    loss: losses[i],
  }));
}

/**
 * The charts: the longest length per method and budget (bars), and every measured search candidate's peak against T
 * at the largest budget (lines; Figure 3 of the paper in small). None when the rows have no max-length search.
 *
 * @example Usage
 * ```ts
 * import { streambpCharts } from "./streambp.ts";
 * import type { Row } from "./_lib/experiment.ts";
 * import assert from "node:assert/strict";
 *
 * const rows: Row[] = [
 *   { kind: "maxLength", technique: "streambp-c128", model: "gpt", budgetMiB: 64, maxT: 2048 },
 *   { kind: "point", technique: "streambp-c128", model: "gpt", budgetMiB: 64, t: 2048, peakMiB: 60 },
 * ];
 * assert.deepEqual(streambpCharts(rows).map((c) => c.name), ["max-length", "peak-vs-length"]);
 * ```
 */
export function streambpCharts(rows: readonly Row[]): NamedChart[] {
  const max = rows.filter((r) => r.kind === "maxLength");
  if (max.length === 0) return [];
  const charts: NamedChart[] = [{
    name: "max-length",
    caption: "longest sequence whose measured peak fits each budget, per method",
    spec: barChartSpec(
      max.map((r) => ({ label: String(r.technique), group: `${r.budgetMiB} MiB`, value: Number(r.maxT) })),
      { title: "max sequence length within the budget", yLabel: "max T (tokens)", width: 520 },
    ),
  }];
  const top = Math.max(...max.map((r) => Number(r.budgetMiB)));
  const series = new Map<string, [number, number][]>();
  for (const r of rows.filter((r) => r.kind === "point" && Number(r.budgetMiB) === top)) {
    const pts = series.get(String(r.technique)) ?? series.set(String(r.technique), []).get(String(r.technique))!;
    pts.push([Number(r.t), Number(r.peakMiB)]);
  }
  for (const pts of series.values()) pts.sort((a, b) => a[0] - b[0]);
  if (series.size > 0) {
    charts.push({
      name: "peak-vs-length",
      caption: `measured peak of one gradient computation against T (the search candidates at ${top} MiB)`,
      spec: lineChartSpec([...series].map(([name, points]) => ({ name, points })), {
        title: "peak MiB vs sequence length",
        xLabel: "sequence length T",
        yLabel: "peak (MiB)",
        width: 520,
      }),
    });
  }
  return charts;
}

/** The StreamBP experiment. */
export const streambp = defineExperiment({
  name: "streambp",
  description: "Longest sequence per memory budget, ms/token and chunk ablation: backprop, checkpointing, StreamBP",
  schema,
  quick: {
    budgetsMiB: [12],
    methods: [CHECKPOINT, "streambp"],
    chunks: [32],
    variants: ["64/16@2048"],
    timeLengths: [128],
    timeRounds: 1,
    ablationRounds: 1,
    ablationLength: 128,
    ablationChunks: [32, 128],
    dim: 32,
    layers: 2,
    heads: 2,
    maxVocab: 2048,
    startLength: 64,
    resolution: 0.1,
    limit: 2048,
  },
  columns: [
    "kind",
    "technique",
    "model",
    "budgetMiB",
    "maxT",
    "lengthRatio",
    "peakMiB",
    "measured",
    "t",
    "chunk",
    "msPerToken",
    "timeRatio",
    "stepPeakMiB",
  ],
  cells(config) {
    const cells: Cell[] = [];
    for (const budgetMiB of config.budgetsMiB) {
      for (const method of methodsOf(config)) {
        cells.push({
          kind: "maxLength",
          label: method.label,
          technique: method.technique,
          chunk: method.chunk ?? 0,
          logitsChunk: method.logitsChunk ?? 0,
          maxScores: method.maxScores ?? 0,
          budgetMiB,
        });
      }
    }
    for (const t of config.timeLengths) cells.push({ kind: "time", t });
    if (config.ablationLength > 0) cells.push({ kind: "ablation", t: config.ablationLength });
    return cells;
  },
  async runCell(config, cell, ctx) {
    const corpus = await corpusOf(config);
    if (cell.kind === "maxLength") {
      const method: Method = {
        label: String(cell.label),
        technique: String(cell.technique),
        ...(Number(cell.chunk) > 0 ? { chunk: Number(cell.chunk) } : {}),
        ...(Number(cell.logitsChunk) > 0 ? { logitsChunk: Number(cell.logitsChunk) } : {}),
        ...(Number(cell.maxScores) > 0 ? { maxScores: Number(cell.maxScores) } : {}),
      };
      ctx.log(`max length: ${method.label} within ${cell.budgetMiB} MiB`);
      return maxLengthRows(config, corpus, method, Number(cell.budgetMiB), ctx.log);
    }
    const t = Number(cell.t);
    if (cell.kind === "time") {
      const methods = methodsOf(config);
      if (!methods.some((m) => m.label === CHECKPOINT)) methods.unshift({ label: CHECKPOINT, technique: CHECKPOINT });
      ctx.log(`time per token at T=${t}: ${methods.map((m) => m.label).join(", ")}`);
      return timeRows(config, corpus, methods, t, "time", config.timeRounds, ctx.log);
    }
    const methods = config.ablationChunks.flatMap((chunk) =>
      ["streambp", "streambp-recompute"].map((technique) => ({ label: `${technique}-c${chunk}`, technique, chunk }))
    );
    ctx.log(`chunk ablation at T=${t}: ${methods.map((m) => m.label).join(", ")}`);
    return timeRows(config, corpus, methods, t, "ablation", config.ablationRounds, ctx.log);
  },
  finalize(rows) {
    // Max length relative to per-block checkpointing at the same budget; time relative to it at the same length;
    // the ablation's recompute rows relative to the cache row of the same chunk.
    const out = rows.map((row) => {
      if (row.kind === "maxLength") {
        const base = rows.find((b) =>
          b.kind === "maxLength" && b.technique === CHECKPOINT && b.budgetMiB === row.budgetMiB
        );
        return { ...row, lengthRatio: base && Number(base.maxT) > 0 ? Number(row.maxT) / Number(base.maxT) : null };
      }
      if (row.kind === "time") {
        const base = rows.find((b) => b.kind === "time" && b.technique === CHECKPOINT && b.t === row.t);
        return { ...row, timeRatio: base ? Number(row.msPerToken) / Number(base.msPerToken) : null };
      }
      if (row.kind === "ablation") {
        const base = rows.find((b) => b.kind === "ablation" && b.technique === `streambp-c${row.chunk}`);
        return { ...row, timeRatio: base ? Number(row.msPerToken) / Number(base.msPerToken) : null };
      }
      return row;
    });
    const order = ["maxLength", "time", "ablation", "point"];
    return out.sort((a, b) => order.indexOf(String(a.kind)) - order.indexOf(String(b.kind)));
  },
  charts: (rows) => streambpCharts(rows),
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
