/**
 * The matmul ceiling of the GPT step: the matrix-product kernels one `gpt-bench` training step runs (recorded from a
 * real step: kernel, input shapes and dtypes, attributes), replayed back to back on random inputs of the same shapes.
 * Its effective GFLOP/s is counted as the gpt-step section counts the step's (3x the forward matmul FLOPs), so the row
 * is what the step would reach if everything but its matmuls took no time: its share of sgemm is the ceiling of the
 * step's share, and its 2-thread speedup the ceiling of the step's.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { drainDeferred } from "../../lib/backend/mod.ts";
import { type Bench, type BenchResult, timeMedian } from "./common.ts";
import { GPT_BENCH_CONFIGS, gptStepFixture } from "./gpt_step.ts";
import { MATMUL_KERNEL } from "./profile.ts";

/** One recorded kernel call: what the replay runs again. */
export interface RecordedCall {
  /** Kernel name (matches `MATMUL_KERNEL`). */
  kernel: string;
  /** Input name → shape and dtype, in the kernel's order. */
  inputs: [name: string, shape: number[], dtype: tf.DataType][];
  /** The call's attributes, as passed. */
  attrs: Record<string, unknown>;
}

/**
 * Runs `fn` recording the calls of the active backend's kernels whose name matches `pattern`, and restores the kernels
 * afterwards. Only outermost calls count, as in `tf.profile`: a kernel that another kernel runs inside its own (a
 * column sum done as a matmul with ones, say) is part of that kernel's work, not a call of its own.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { recordKernelCalls } from "./gpt_gemms.ts";
 * import assert from "node:assert/strict";
 *
 * await tf.setBackend("cpu");
 * const a = tf.ones([2, 3]), b = tf.ones([4, 3]);
 * const calls = recordKernelCalls(/^BatchMatMul$/, () => tf.matMul(a, b, false, true).dispose());
 * assert.deepEqual(calls.map((c) => [c.kernel, c.inputs.map((i) => i[1]), c.attrs.transposeB]), [
 *   ["BatchMatMul", [[2, 3], [4, 3]], true],
 * ]);
 * tf.dispose([a, b]);
 * ```
 */
export function recordKernelCalls(pattern: RegExp, fn: () => void): RecordedCall[] {
  const backendName = tf.getBackend();
  // Every kernel is wrapped, to know when a kernel runs inside another.
  const originals = tf.getKernelsForBackend(backendName);
  const calls: RecordedCall[] = [];
  let depth = 0;
  for (const k of originals) {
    const record = pattern.test(k.kernelName);
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        if (depth === 0 && record) {
          calls.push({
            kernel: k.kernelName,
            inputs: Object.entries(args.inputs).map(([name, t]) => [name, t!.shape.slice(), t!.dtype]),
            attrs: { ...args.attrs },
          });
        }
        depth++;
        try {
          return k.kernelFunc(args);
        } finally {
          depth--;
        }
      },
    });
  }
  try {
    fn();
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backendName);
      tf.registerKernel(k);
    }
  }
  return calls;
}

/**
 * Replays `calls` once, on `inputs` (one input map per call, as {@linkcode replayInputs} makes), freeing each output,
 * and waits for deferred GEMMs.
 */
export function replayCalls(calls: readonly RecordedCall[], inputs: readonly tf.NamedTensorMap[]): void {
  calls.forEach((c, i) => {
    const out = tf.engine().runKernel(c.kernel, inputs[i], c.attrs as tf.NamedAttrMap);
    tf.dispose(out as tf.Tensor | tf.Tensor[]);
  });
  drainDeferred();
}

/** Random inputs for `calls` (uniform in [-1, 1) for floats, zeros otherwise), one map per call. */
export function replayInputs(calls: readonly RecordedCall[]): tf.NamedTensorMap[] {
  return calls.map((c, i) =>
    Object.fromEntries(c.inputs.map(([name, shape, dtype], j) => [
      name,
      dtype === "float32" ? tf.randomUniform(shape, -1, 1, "float32", 7 * i + j) : tf.zeros(shape, dtype),
    ]))
  );
}

/** The section: `gpt-bench-matmuls`, gpt-bench's step with only its matmul kernels. */
export const gptGemmsBench: Bench = {
  name: "gpt-matmuls",
  description:
    "gpt-bench's matmul kernels alone, recorded from one step and replayed (ceiling of the gpt-step row: effective GFLOP/s as there)",
  async run(backend, options) {
    const rows: BenchResult[] = [];
    const name = "gpt-bench";
    if (backend.name === "cpu") return rows; // minutes per step there
    const { model: cfg, batch } = GPT_BENCH_CONFIGS[name];
    const fx = gptStepFixture(cfg, batch);
    let inputs: tf.NamedTensorMap[] = [];
    try {
      fx.trainer.step({ x: fx.x, y: fx.y }); // warm up: the recorded step is a steady one
      const calls = recordKernelCalls(MATMUL_KERNEL, () => fx.trainer.step({ x: fx.x, y: fx.y }));
      if (calls.length === 0) throw new Error(`gpt-matmuls: no kernel matching ${MATMUL_KERNEL} ran in a step`);
      inputs = replayInputs(calls);
      const t = await timeMedian(() => replayCalls(calls, inputs), {
        warmup: 2,
        minReps: Math.min(options.minReps, 5),
        minMs: options.minMs,
        maxReps: 50,
      });
      const flops = 3 * batch * fx.gpt.flopsPerExample();
      rows.push({ config: `${name}-matmuls`, msPerStep: t.medianMs, gflops: flops / (t.medianMs * 1e6) });
    } finally {
      for (const m of inputs) tf.dispose(Object.values(m));
      fx.dispose();
    }
    return rows;
  },
};
