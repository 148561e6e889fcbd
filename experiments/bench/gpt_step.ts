/**
 * A full GPT training step (forward, loss, explicit backward, AdamW update) at two configs: `gpt-bench` (V=256, D=256,
 * 4 layers, 4 heads, T=128, B=8: GPT-small's shape) and `tiny` (V=64, D=64, 2 layers, 4 heads, T=32, B=8).
 * Effective GFLOP/s counts 3x the forward matmul FLOPs (forward + two backward products) per step. The row
 * `gpt-bench+update-in-backward` is the same step updating each parameter as soon as its gradient is final (issue 13);
 * on blas, `gpt-bench+causal-off` and `tiny+causal-off` run with the causal attention kernels off (the A/B of issue 17).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { createGpt, type Gpt, type GptConfig } from "../../lib/models/mod.ts";
import { setFusedKernels } from "../../lib/backend/mod.ts";
import { disposeTree } from "../../lib/nn/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { Trainer, type UpdateMode } from "../../lib/train/mod.ts";
import { type Bench, type BenchResult, timeMedian } from "./common.ts";

/** The benchmarked GPT configs with their batch size. */
export const GPT_BENCH_CONFIGS: Record<string, { model: GptConfig; batch: number }> = {
  "gpt-bench": { model: { vocab: 256, context: 128, dim: 256, layers: 4, heads: 4, mlpRatio: 4 }, batch: 8 },
  tiny: { model: { vocab: 64, context: 32, dim: 64, layers: 2, heads: 4, mlpRatio: 4 }, batch: 8 },
};

/** A GPT, its AdamW trainer and one fixed random batch, for timing and profiling steps. */
export interface GptStepFixture {
  /** The model. */
  gpt: Gpt;
  /** Its trainer (AdamW, lr 1e-4). */
  trainer: Trainer<unknown>;
  /** Token ids `[batch, context]`. */
  x: tf.Tensor;
  /** Targets `[batch, context]`. */
  y: tf.Tensor;
  /** Frees everything. */
  dispose(): void;
}

/** The extra rows: a config run with another update mode, named `<config>+update-<mode>`. */
export const GPT_BENCH_UPDATES: readonly { config: string; update: UpdateMode }[] = [
  { config: "gpt-bench", update: "in-backward" },
];

/**
 * The A/B rows: a config run with one fused-kernel group off (its stock ops instead), named `<config>+<group>-off`.
 * `causal` (the causal attention kernels, blas only) is what the performance issue added: off, the step is the one
 * before it, measured in the same rounds.
 */
export const GPT_BENCH_KERNELS_OFF: readonly { config: string; group: string }[] = [
  { config: "gpt-bench", group: "causal" },
  { config: "tiny", group: "causal" },
];

/** Builds a {@linkcode GptStepFixture} (seeded: the same model and batch every time). */
export function gptStepFixture(cfg: GptConfig, batch: number, update: UpdateMode = "per-param"): GptStepFixture {
  const gpt = createGpt(cfg, { seed: 0 });
  const trainer = new Trainer<unknown>(gpt, { optimizer: adamw({ lr: 1e-4 }), update });
  const x = tf.randomUniform([batch, cfg.context], 0, cfg.vocab, "int32", 1);
  const y = tf.randomUniform([batch, cfg.context], 0, cfg.vocab, "int32", 2);
  return {
    gpt,
    trainer,
    x,
    y,
    dispose() {
      trainer.dispose();
      disposeTree(gpt.params);
      tf.dispose([x, y]);
    },
  };
}

/** The GPT-step section. On the cpu backend only `tiny` runs (gpt-bench takes minutes per step there). */
export const gptStepBench: Bench = {
  name: "gpt-step",
  description: "GPT training step with AdamW (median ms/step, effective GFLOP/s)",
  async run(backend, options) {
    const rows: BenchResult[] = [];
    const runs: { config: string; update: UpdateMode; row: string; off?: string }[] = [
      ...Object.keys(GPT_BENCH_CONFIGS).map((config) => ({ config, update: "per-param" as UpdateMode, row: config })),
      ...GPT_BENCH_UPDATES.map((u) => ({ ...u, row: `${u.config}+update-${u.update}` })),
      // The causal kernels run on blas only: elsewhere the rows would repeat the plain ones.
      ...(backend.name === "blas" ? GPT_BENCH_KERNELS_OFF : []).map((k) => ({
        config: k.config,
        update: "per-param" as UpdateMode,
        row: `${k.config}+${k.group}-off`,
        off: k.group,
      })),
    ];
    for (const { config: name, update, row, off } of runs) {
      const { model: cfg, batch } = GPT_BENCH_CONFIGS[name];
      if (backend.name === "cpu" && name !== "tiny") continue;
      const fx = gptStepFixture(cfg, batch, update);
      const { gpt, trainer, x, y } = fx;
      const was = off === undefined ? undefined : setFusedKernels(false, off);
      try {
        const t = await timeMedian(() => trainer.step({ x, y }), {
          warmup: 2,
          minReps: Math.min(options.minReps, 5),
          minMs: options.minMs,
          maxReps: 50,
        });
        const flops = 3 * batch * gpt.flopsPerExample();
        rows.push({ config: row, msPerStep: t.medianMs, gflops: flops / (t.medianMs * 1e6) });
      } finally {
        if (off !== undefined) setFusedKernels(was!, off);
        fx.dispose();
      }
    }
    return rows;
  },
};
