/**
 * `deno task experiment guard-cost`: what the Trainer's non-finite guard (`guard`, on by default; one fused check
 * over every tensor) costs per step on the tiny GPT. Two trainers, guard on and off, start from the same weights and
 * are stepped alternately on the same batches (which goes first alternates too). The row gives the mean ms/step of
 * each after the warm-up and the median of the paired steps' ratios (on/off of the same batch), which is robust to
 * the drift of a shared machine. Run it on one backend at a time (`--backend=wasm|blas`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { backendInfo } from "../lib/backend/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { disposeTree } from "../lib/nn/mod.ts";
import { adamw } from "../lib/optim/mod.ts";
import { Trainer } from "../lib/train/mod.ts";
import { defineExperiment, runCellsInOrder } from "./_lib/experiment.ts";

const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;

/** The guard-cost experiment. */
export const guardCost = defineExperiment({
  name: "guard-cost",
  description: "Tiny GPT, guard on vs off stepped alternately on the same batches: the non-finite guard's cost",
  schema: z.object({
    steps: z.number().int().positive().default(300).describe("steps of each trainer"),
    warmup: z.number().int().nonnegative().default(5).describe("untimed steps first"),
    batch: z.number().int().positive().default(8).describe("sequences per batch"),
    context: z.number().int().positive().default(32).describe("sequence length (<= 32 for the tiny preset)"),
    vocab: z.number().int().positive().default(64).describe("vocabulary (random tokens)"),
    lr: z.number().positive().default(1e-3).describe("AdamW learning rate"),
    seed: z.number().int().default(0).describe("init and batch seed"),
  }).strict(),
  quick: { steps: 12, warmup: 2 },
  columns: ["model", "backend", "timedSteps", "onMs", "offMs", "meanOverheadPct", "medianOverheadPct"],
  cells() {
    return [{ guard: "on-vs-off" }];
  },
  runCell(config, _cell, ctx) {
    if (config.warmup >= config.steps) {
      throw new RangeError(`'warmup' must be below 'steps' (${config.steps}): received ${config.warmup}`);
    }
    const cfg = { ...GPT_PRESETS.tiny, vocab: config.vocab };
    const on = new Trainer(createGpt(cfg, { seed: config.seed }), { optimizer: adamw({ lr: config.lr }) });
    const off = new Trainer(createGpt(cfg, { seed: config.seed }), {
      optimizer: adamw({ lr: config.lr }),
      guard: false,
    });
    const ms = { on: [] as number[], off: [] as number[] };
    try {
      for (let i = 0; i < config.steps; i++) {
        const [x, y] = [0, 1].map((k) =>
          tf.randomUniform([config.batch, config.context], 0, config.vocab, "int32", config.seed + 2 * i + k)
        );
        try {
          for (const name of i % 2 ? ["on", "off"] as const : ["off", "on"] as const) {
            const r = (name === "on" ? on : off).step({ x, y });
            if (i >= config.warmup) ms[name].push(r.ms);
          }
        } finally {
          tf.dispose([x, y]);
        }
        ctx.progress?.step({ step: i + 1, steps: config.steps, loss: NaN, ms: ms.on.at(-1) ?? 0, liveBytes: 0 });
      }
    } finally {
      for (const t of [on, off]) {
        t.dispose();
        disposeTree(t.model.params);
      }
    }
    const ratios = ms.on.map((v, i) => v / ms.off[i]).sort((a, b) => a - b);
    return Promise.resolve([{
      technique: "baseline",
      model: "gpt-tiny",
      backend: backendInfo()?.name ?? tf.getBackend(), // memtrain's name: blas runs on the patched wasm backend
      timedSteps: ms.on.length,
      onMs: mean(ms.on),
      offMs: mean(ms.off),
      meanOverheadPct: 100 * (mean(ms.on) / mean(ms.off) - 1),
      medianOverheadPct: 100 * (ratios[ratios.length >> 1] - 1),
    }]);
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
