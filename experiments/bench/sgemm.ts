/**
 * Square sgemm through `tf.matMul` (the `BatchMatMul` kernel), one row per size.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Bench, type BenchResult, timeMedian } from "./common.ts";

/** GFLOP/s of an m×k by k×n matmul that took `ms` milliseconds. */
export function matmulGflops(m: number, k: number, n: number, ms: number): number {
  return (2 * m * k * n) / (ms * 1e6);
}

/** The sgemm section: `tf.matMul` of two random n×n float32 matrices. */
export const sgemmBench: Bench = {
  name: "sgemm",
  description: "square float32 matmul via tf.matMul (median ms per matmul)",
  async run(backend, options) {
    const rows: BenchResult[] = [];
    for (const n of options.sizes) {
      const a = tf.randomUniform([n, n], -1, 1, "float32", 1), b = tf.randomUniform([n, n], -1, 1, "float32", 2);
      try {
        // cpu takes seconds per 1024² matmul: fewer reps there.
        const slow = backend.name === "cpu" && n >= 512;
        const t = await timeMedian(() => tf.matMul(a, b).dispose(), {
          warmup: slow ? 1 : 2,
          minReps: slow ? 3 : options.minReps,
          minMs: slow ? 0 : options.minMs,
        });
        rows.push({ config: `sgemm-${n}`, msPerStep: t.medianMs, gflops: matmulGflops(n, n, n, t.medianMs) });
      } finally {
        tf.dispose([a, b]);
      }
    }
    return rows;
  },
};
