/**
 * `deno task experiment galore`: GaLore's Table 2 and Fig. 5 ablation at notebook scale. GPT-small on Moby Dick
 * characters with AdamW vs GaLore at ranks d/8, d/4, d/2 (an lr grid each; same steps, seeds and batches; warmup +
 * cosine), the refresh-gap ablation at rank d/4, moment rotation at a refresh (GaLore issue #54), the randomized
 * finder, the low-rank-weights baseline (W = BA), and an SVD micro-benchmark on real GPT-small gradients (LAPACK
 * sgesdd / sgesvd vs randomized subspace iteration: ms per refresh and subspace quality).
 *
 * Every training row goes through the standard run (`runGptSmall`) with `--optimizer=galore` resolved by the
 * optimizer table; a probe around the optimizer measures its state with the meter (per group) and times each update,
 * so the SVD cost per refresh is the refresh step's update time minus the mean of the others. Loss curves are written
 * to `<out>/galore-curves/<technique>.json` for the notebook.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { loadCharCorpus } from "../lib/data/mod.ts";
import {
  galoreStateBytesAnalytic,
  lapackSubspace,
  loadLapack,
  randomizedSubspace,
  type Side,
} from "../lib/galore/mod.ts";
import { defaultGaloreInclude, projectionSide } from "../lib/galore/galore.ts";
import { lowRankElements, lowRankWeights } from "../lib/galore/low_rank.ts";
import { findLapack } from "../lib/galore/lapack.ts";
import { meter, mib } from "../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { disposeTree, type Params } from "../lib/nn/mod.ts";
import { disposeState, type GradientTransform } from "../lib/optim/mod.ts";
import { Rng } from "../lib/data/rng.ts";
import { backprop, tokenBatch } from "../lib/train/mod.ts";
import { sampleLmBatch } from "../lib/data/lm_batch.ts";
import { type Cell, defineExperiment, type Row, runCellsInOrder, type RunContext } from "./_lib/experiment.ts";
import { runGptSmall, standardRunFields, standardRunQuick, summaryRow } from "./_lib/standard_runs.ts";
import { buildTechnique } from "./_lib/techniques.ts";

const GROUPS = ["adamw", "galore", "ablation", "rotate", "randomized", "lowrank", "svd"] as const;
const D = GPT_PRESETS.small.dim;

/** What a probe around the optimizer records. */
interface ProbeStats {
  /** Meter bytes of the full init, and of the projected / unprojected subsets' inits. */
  stateBytes: number;
  projectedBytes: number;
  unprojectedBytes: number;
  /** Wall ms of every update, in order. */
  updateMs: number[];
  /** The subspace finder a GaLore optimizer used (its `svd.detail`). */
  svdUsed?: string;
}

/** Wraps `inner`: measures its init with the meter (whole and per group) and times every update. */
function probe(inner: GradientTransform<unknown>, stats: ProbeStats): GradientTransform<unknown> {
  stats.svdUsed = (inner as { svd?: { detail: string } }).svd?.detail;
  return {
    init(params) {
      const m = meter();
      const projected: Params = {}, unprojected: Params = {};
      for (const [k, v] of Object.entries(params)) (defaultGaloreInclude(k, v.shape) ? projected : unprojected)[k] = v;
      for (const [subset, key] of [[projected, "projectedBytes"], [unprojected, "unprojectedBytes"]] as const) {
        const before = m.live;
        const s = inner.init(subset);
        stats[key] = m.live - before;
        disposeState(s);
      }
      const before = m.live;
      const state = inner.init(params);
      stats.stateBytes = m.live - before;
      return state;
    },
    update(grads, state, params, extras) {
      const t0 = performance.now();
      const r = inner.update(grads, state, params, extras);
      stats.updateMs.push(performance.now() - t0);
      return r;
    },
  };
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/** Parameter shapes of GPT-small with the corpus vocabulary (no tensors kept). */
function gptShapes(vocab: number): Record<string, number[]> {
  const model = createGpt({ ...GPT_PRESETS.small, vocab }, { seed: 0 });
  const shapes = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, v.shape]));
  disposeTree(model.params);
  return shapes;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** One training cell: the standard GPT-small run with the cell's optimizer. */
async function runTraining(
  config: z.infer<typeof schema>,
  cell: Cell,
  ctx: RunContext,
): Promise<Row[]> {
  const optimizer = String(cell.optimizer), rank = Number(cell.rank), lr = Number(cell.lr), gap = Number(cell.gap);
  const cfg = {
    ...config,
    optimizer: optimizer === "galore" ? "galore" as const : "adamw" as const,
    gptLr: lr,
    galoreRank: rank || config.galoreRank,
    galoreUpdateProjGap: gap || config.galoreUpdateProjGap,
    galoreSvd: (cell.svd as "auto" | "randomized") ?? config.galoreSvd,
    galoreRotateMoments: Boolean(cell.rotate),
  };
  const stats: ProbeStats = { stateBytes: 0, projectedBytes: 0, unprojectedBytes: 0, updateMs: [] };
  const tech = buildTechnique("baseline", cfg);
  const wrapped = {
    ...tech,
    optimizer: <S>(base: GradientTransform<S>) =>
      probe(
        optimizer === "lowrank" ? lowRankWeights({ rank, base, svd: "auto" }) : base as GradientTransform<unknown>,
        stats,
      ),
  };
  const label = String(cell.label);
  ctx.log(`gpt-small: ${label} (lr ${lr})`);
  try {
    const r = await runGptSmall(cfg, wrapped, ctx.progress?.step, { training: ctx.training, id: label });
    const corpus = await loadCharCorpus({ name: "moby-dick" });
    const shapes = gptShapes(corpus.vocabSize);
    const analytic = optimizer === "galore"
      ? galoreStateBytesAnalytic(shapes, { rank }).total
      : optimizer === "lowrank"
      ? 4 * lowRankElements(shapes, rank).state
      : galoreStateBytesAnalytic(shapes, { rank: 1, include: () => false }).total;
    const weights = optimizer === "lowrank"
      ? 4 * lowRankElements(shapes, rank).weights
      : 4 * Object.values(shapes).reduce((a, s) => a + size(s), 0);
    // The SVD's cost: a refresh step's update time minus the median of the other updates. Step 0 also pays for
    // first-call setup, so it is used only when no later refresh happened.
    const ms = stats.updateMs;
    const isRefresh = (i: number) => optimizer === "galore" && i % cfg.galoreUpdateProjGap === 0;
    const plain = ms.filter((_, i) => i > 0 && !isRefresh(i));
    const later = ms.map((t, i) => [t, i] as const).filter(([, i]) => i > 0 && isRefresh(i)).map(([t]) => t);
    const svdMs = optimizer !== "galore" ? null : (later.length ? mean(later) : ms[0]) - median(plain);
    await Deno.mkdir(`${ctx.outDir}/galore-curves`, { recursive: true });
    await Deno.writeTextFile(
      `${ctx.outDir}/galore-curves/${label}.json`,
      JSON.stringify({ technique: label, group: cell.group, optimizer, rank, lr, gap, losses: r.losses }) + "\n",
    );
    return [
      summaryRow(label, "gpt-small", r, {}),
    ].map((row) => ({
      ...row,
      group: String(cell.group),
      optimizer,
      rank: rank || null,
      lr,
      gap: optimizer === "galore" ? cfg.galoreUpdateProjGap : null,
      svd: optimizer === "galore" ? String(cfg.galoreSvd) : null,
      svdUsed: stats.svdUsed ?? null,
      rotate: optimizer === "galore" ? cfg.galoreRotateMoments : null,
      stateMiB: mib(stats.stateBytes),
      stateAnalyticMiB: mib(analytic),
      projectedStateMiB: mib(stats.projectedBytes),
      unprojectedStateMiB: mib(stats.unprojectedBytes),
      weightsMiB: mib(weights),
      memoryMiB: mib(weights + analytic),
      optMsPerStep: median(plain),
      svdMsPerRefresh: svdMs,
      svdFromStep0: optimizer === "galore" ? later.length === 0 : null,
      refreshOverheadPct: svdMs === null ? null : (100 * svdMs / cfg.galoreUpdateProjGap) / r.msPerStep,
    }));
  } finally {
    tech.dispose();
  }
}

/** The SVD micro-benchmark: every projected GPT-small gradient of one real batch, each finder, each rank. */
async function runSvdBench(config: z.infer<typeof schema>, ctx: { log(m: string): void }): Promise<Row[]> {
  const corpus = await loadCharCorpus({ name: "moby-dick" });
  const model = createGpt({ ...GPT_PRESETS.small, vocab: corpus.vocabSize }, { seed: config.seed });
  const rng = new Rng(config.seed);
  const ctxLen = GPT_PRESETS.small.context;
  const batch = tokenBatch(sampleLmBatch(corpus.train, config.gptBatch, ctxLen, rng), config.gptBatch, ctxLen);
  const { grads } = backprop().lossAndGrads(model, batch, { key: { step: 0, seed: config.seed } });
  tf.dispose([batch.x, batch.y]);
  const names = Object.keys(grads).filter((k) => defaultGaloreInclude(k, grads[k].shape));
  const data = Object.fromEntries(names.map((k) => [k, grads[k].dataSync() as Float32Array]));
  const lapack = findLapack().lib;
  const rows: Row[] = [];
  const rounds = config.svdRounds;
  for (const div of config.rankDivisors) {
    const rank = D / div;
    // Reference: LAPACK gesdd subspaces (or, without LAPACK, randomized with 4 power iterations).
    const exact: Record<string, Float32Array> = {};
    for (const k of names) {
      const [m, n] = grads[k].shape, side = projectionSide(grads[k].shape, "std");
      exact[k] = lapack
        ? lapackSubspace(lapack, data[k], m, n, rank, side, "gesdd").p!
        : randomizedSubspace(grads[k], rank, side, { powerIters: 4 });
    }
    const methods: { name: string; run: (k: string, side: Side) => Float32Array }[] = [];
    if (lapack) {
      for (const driver of config.svdDrivers) {
        methods.push({
          name: `lapack-${driver}`,
          run: (k, side) =>
            lapackSubspace(loadLapack(), data[k], ...grads[k].shape as [number, number], rank, side, driver).p!,
        });
      }
    }
    for (const q of config.svdPowerIters) {
      methods.push({
        name: `randomized-q${q}`,
        run: (k, side) => randomizedSubspace(grads[k], rank, side, { powerIters: q, rng: new Rng(1).fork(k) }),
      });
    }
    for (const method of methods) {
      const times: number[] = [];
      let energy = 0, best = 0, dist = 0;
      for (let round = 0; round < rounds; round++) {
        const t0 = performance.now();
        const ps: Record<string, Float32Array> = {};
        for (const k of names) ps[k] = method.run(k, projectionSide(grads[k].shape, "std"));
        times.push(performance.now() - t0);
        if (round > 0) continue;
        for (const k of names) {
          const side = projectionSide(grads[k].shape, "std");
          energy += captured(grads[k], ps[k], side, rank);
          best += captured(grads[k], exact[k], side, rank);
          dist = Math.max(dist, subspaceSin(ps[k], exact[k], side, grads[k].shape, rank));
        }
      }
      ctx.log(`svd ${method.name} rank ${rank}: ${median(times).toFixed(0)} ms per refresh (${names.length} matrices)`);
      rows.push({
        technique: `svd-${method.name}`,
        model: "gpt-small",
        group: "svd",
        rank,
        svdMsPerRefresh: median(times),
        matrices: names.length,
        energyRatio: energy / best,
        maxSubspaceSin: dist,
      });
    }
  }
  disposeTree(grads);
  disposeTree(model.params);
  return rows;
}

/** ‖projection of g onto the subspace‖²_F: the gradient energy the projector keeps. */
function captured(g: tf.Tensor, p: Float32Array, side: Side, rank: number): number {
  return tf.tidy(() => {
    const [m, n] = g.shape;
    const pt = side === "left" ? tf.tensor2d(p, [m, rank]) : tf.tensor2d(p, [rank, n]);
    const r = side === "left"
      ? tf.matMul(pt, g as tf.Tensor2D, true, false)
      : tf.matMul(g as tf.Tensor2D, pt, false, true);
    return tf.sum(tf.square(r)).dataSync()[0];
  });
}

/** ‖PPᵀ − QQᵀ‖_F / √(2r): the RMS sine of the principal angles between two projectors' subspaces. */
function subspaceSin(p: Float32Array, q: Float32Array, side: Side, shape: number[], rank: number): number {
  return tf.tidy(() => {
    const s = side === "left" ? shape[0] : shape[1];
    const cols = (x: Float32Array) =>
      side === "left" ? tf.tensor2d(x, [s, rank]) : tf.transpose(tf.tensor2d(x, [rank, s]));
    const a = cols(p), b = cols(q);
    const d = tf.sub(tf.matMul(a, a, false, true), tf.matMul(b, b, false, true));
    return Math.sqrt(tf.sum(tf.square(d)).dataSync()[0] / (2 * rank));
  });
}

const schema = z.object({
  groups: z.array(z.enum(GROUPS)).default(GROUPS.filter((g) => g !== "randomized")).describe(
    "what to run: adamw and galore lr grids, the T ablation, moment rotation, the randomized finder (not by default: " +
      "the SVD micro-benchmark compares the finders), the low-rank baseline, the SVD micro-benchmark",
  ),
  rankDivisors: z.array(z.number().int().positive()).default([8, 4, 2]).describe(
    "GaLore ranks as d / divisor (d = 256)",
  ),
  adamwLrs: z.array(z.number().positive()).default([1e-3, 2e-3, 4e-3]).describe("AdamW peak learning rates"),
  galoreLrs: z.array(z.number().positive()).default([4e-3, 8e-3]).describe("GaLore peak learning rates"),
  ablationDivisor: z.number().int().positive().default(4).describe("rank d / divisor of the ablations"),
  ablationLr: z.number().positive().default(4e-3).describe("peak learning rate of the ablations"),
  gaps: z.array(z.number().int().positive()).default([10, 50, 1000]).describe(
    "refresh gaps T of the ablation (the grid's T = galoreUpdateProjGap is the fourth point)",
  ),
  rotateGaps: z.array(z.number().int().positive()).default([50]).describe("gaps T run with rotateMoments"),
  lowRankLrs: z.array(z.number().positive()).default([4e-3]).describe("learning rates of the W = BA baseline"),
  svdRounds: z.number().int().positive().default(3).describe("SVD micro-benchmark rounds (median reported)"),
  svdPowerIters: z.array(z.number().int().min(0)).default([1, 2]).describe(
    "randomized finder power iterations benchmarked",
  ),
  svdDrivers: z.array(z.enum(["gesdd", "gesvd"])).default(["gesdd", "gesvd"]).describe("LAPACK drivers benchmarked"),
  ...standardRunFields,
  // Sized for a shared machine (14 training cells and the SVD benchmark, --jobs 2: 36 min at load 8-9 on 2 cores):
  // 250 steps of 8 sequences instead of the standard 400 x 16. With T = 200 the grid's projectors refresh at 0 and 200.
  gptSteps: standardRunFields.gptSteps.removeDefault().default(250).describe("GPT training steps (standard runs: 400)"),
  gptBatch: standardRunFields.gptBatch.removeDefault().default(8).describe(
    "GPT sequences per batch, T = 128 (standard: 16)",
  ),
}).strict();

/** The GaLore experiment. */
export const galoreExperiment = defineExperiment({
  name: "galore",
  description: "GaLore vs AdamW on GPT-small (ranks d/8, d/4, d/2, lr grids), refresh-gap ablation, SVD benchmark",
  schema,
  quick: {
    ...standardRunQuick,
    gptSteps: 6,
    rankDivisors: [8],
    ablationDivisor: 8,
    adamwLrs: [2e-3],
    galoreLrs: [8e-3],
    gaps: [3],
    rotateGaps: [3],
    lowRankLrs: [2e-3],
    svdRounds: 1,
    svdPowerIters: [1],
    svdDrivers: ["gesdd"],
  },
  columns: [
    "technique",
    "model",
    "group",
    "rank",
    "lr",
    "gap",
    "valLoss",
    "valLossVsBestAdamwPct",
    "bestOfGrid",
    "stateMiB",
    "stateAnalyticMiB",
    "stateRatio",
    "projectedStateMiB",
    "unprojectedStateMiB",
    "memoryMiB",
    "peakMiB",
    "msPerStep",
    "svdMsPerRefresh",
    "refreshOverheadPct",
  ],
  cells(config) {
    const cells: Cell[] = [];
    const g = new Set(config.groups);
    const fmt = (lr: number) => lr.toExponential(0).replace("e-", "e-");
    const ablationRank = D / config.ablationDivisor;
    const train = (c: Omit<Cell, "kind">) => cells.push({ kind: "train", ...c });
    if (g.has("adamw")) {
      for (const lr of config.adamwLrs) {
        train({ group: "grid", optimizer: "adamw", rank: 0, lr, gap: 0, label: `adamw-lr${fmt(lr)}` });
      }
    }
    if (g.has("galore")) {
      for (const div of config.rankDivisors) {
        for (const lr of config.galoreLrs) {
          train({
            group: "grid",
            optimizer: "galore",
            rank: D / div,
            lr,
            gap: config.galoreUpdateProjGap,
            label: `galore-r${D / div}-lr${fmt(lr)}`,
          });
        }
      }
    }
    if (g.has("ablation")) {
      for (const gap of config.gaps) {
        train({
          group: "ablation",
          optimizer: "galore",
          rank: ablationRank,
          lr: config.ablationLr,
          gap,
          label: `galore-r${ablationRank}-T${gap}`,
        });
      }
    }
    if (g.has("rotate")) {
      for (const gap of config.rotateGaps) {
        train({
          group: "rotate",
          optimizer: "galore",
          rank: ablationRank,
          lr: config.ablationLr,
          gap,
          rotate: true,
          label: `galore-r${ablationRank}-T${gap}-rotate`,
        });
      }
    }
    if (g.has("randomized")) {
      train({
        group: "randomized",
        optimizer: "galore",
        rank: ablationRank,
        lr: config.ablationLr,
        gap: config.galoreUpdateProjGap,
        svd: "randomized",
        label: `galore-r${ablationRank}-randomized`,
      });
    }
    if (g.has("lowrank")) {
      for (const lr of config.lowRankLrs) {
        train({
          group: "lowrank",
          optimizer: "lowrank",
          rank: ablationRank,
          lr,
          gap: 0,
          label: `lowrank-r${ablationRank}-lr${fmt(lr)}`,
        });
      }
    }
    if (g.has("svd")) cells.push({ kind: "svd" });
    return cells;
  },
  runCell(config, cell, ctx) {
    return cell.kind === "svd" ? runSvdBench(config, ctx) : runTraining(config, cell, ctx);
  },
  finalize(rows) {
    const adamw = rows.filter((r) => r.optimizer === "adamw");
    const bestAdamw = Math.min(...adamw.map((r) => Number(r.valLoss)));
    const adamwState = adamw.length ? Number(adamw[0].stateMiB) : NaN;
    // The best lr of each (optimizer, rank) in the grid.
    const best = new Map<string, number>();
    for (const r of rows.filter((r) => r.group === "grid")) {
      const key = `${r.optimizer}/${r.rank}`;
      best.set(key, Math.min(best.get(key) ?? Infinity, Number(r.valLoss)));
    }
    return rows.map((r) => {
      if (r.group === "svd") return r;
      return {
        ...r,
        valLossVsBestAdamwPct: Number.isFinite(bestAdamw) ? 100 * (Number(r.valLoss) / bestAdamw - 1) : null,
        bestOfGrid: r.group === "grid" ? best.get(`${r.optimizer}/${r.rank}`) === Number(r.valLoss) : null,
        stateRatio: Number.isFinite(adamwState) ? Number(r.stateMiB) / adamwState : null,
      };
    });
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
