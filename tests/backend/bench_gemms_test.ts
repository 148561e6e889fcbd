import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { recordKernelCalls, replayCalls, replayInputs } from "../../experiments/bench/gpt_gemms.ts";
import { GPT_BENCH_CONFIGS, gptStepBench, gptStepFixture } from "../../experiments/bench/gpt_step.ts";
import { fusedActive, initBackend, setFusedKernels } from "../../lib/backend/mod.ts";
import { MATMUL_KERNEL } from "../../experiments/bench/profile.ts";
import { needsBlas, testOnBackends } from "../_util/backends.ts";

testOnBackends(
  "bench gpt-matmuls: a tiny GPT step's matmul calls are recorded, replayed alike, without leaks",
  async () => {
    const { model, batch } = GPT_BENCH_CONFIGS.tiny;
    const fx = gptStepFixture(model, batch);
    try {
      fx.trainer.step({ x: fx.x, y: fx.y });
      const before = tf.getKernelsForBackend(tf.getBackend());
      const calls = recordKernelCalls(MATMUL_KERNEL, () => fx.trainer.step({ x: fx.x, y: fx.y }));
      // Every matmul kernel of the step once, outermost calls only (what the profile counts as the step's matmuls).
      const profile = await tf.profile(() => void fx.trainer.step({ x: fx.x, y: fx.y }));
      const profiled = profile.kernels.filter((k) => MATMUL_KERNEL.test(k.name)).map((k) => [k.name, k.inputShapes]);
      assert.deepEqual(calls.map((c) => [c.kernel, c.inputs.map((i) => i[1])]), profiled);
      // Forward and backward of each Linear: 2 layers x (qkv, proj, fc1, fc2) + the head, each 3 products.
      assert.ok(calls.filter((c) => /MatMul/.test(c.kernel) && c.inputs[0][1].length === 2).length >= 27);
      // The kernels are the registry's own again.
      const after = tf.getKernelsForBackend(tf.getBackend());
      assert.deepEqual(after.map((k) => k.kernelFunc), before.map((k) => k.kernelFunc));

      const inputs = replayInputs(calls);
      try {
        const live = tf.memory().numTensors;
        const replayed = recordKernelCalls(MATMUL_KERNEL, () => replayCalls(calls, inputs));
        assert.deepEqual(replayed, calls, "the replay runs the recorded kernels, shapes and attributes, in order");
        assert.equal(tf.memory().numTensors, live, "the replay frees its outputs");
      } finally {
        for (const m of inputs) tf.dispose(Object.values(m));
      }
    } finally {
      fx.dispose();
    }
  },
);

testOnBackends("bench gpt-matmuls: recordKernelCalls restores the kernels when its function throws", () => {
  const name = tf.getBackend();
  const before = tf.getKernel("BatchMatMul", name)!.kernelFunc;
  const a = tf.ones([2, 2]);
  try {
    assert.throws(
      () =>
        recordKernelCalls(/^BatchMatMul$/, () => {
          tf.matMul(a, a).dispose();
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.equal(tf.getKernel("BatchMatMul", name)!.kernelFunc, before);
  } finally {
    a.dispose();
  }
});

Deno.test(
  needsBlas("bench gpt-step: the causal-off rows on blas, and the kernel group is on again afterwards"),
  async () => {
    await initBackend({ backend: "blas" });
    const rows = await gptStepBench.run({ name: "blas", threads: 1 }, { sizes: [], minMs: 0, minReps: 1 });
    assert.deepEqual(rows.map((r) => [r.config, String(r.msPerStep > 0 && r.gflops > 0)]), [
      ["gpt-bench", "true"],
      ["tiny", "true"],
      ["gpt-bench+update-in-backward", "true"],
      ["gpt-bench+causal-off", "true"],
      ["tiny+causal-off", "true"],
    ]);
    assert.ok(fusedActive("causal"), "the causal group is restored after its off rows");
    // Off, a step runs none of the causal kernels; on, it does (what the A/B rows compare).
    const { model, batch } = GPT_BENCH_CONFIGS.tiny;
    const fx = gptStepFixture(model, batch);
    try {
      const on = recordKernelCalls(/^MemtrainCausal/, () => fx.trainer.step({ x: fx.x, y: fx.y }));
      const was = setFusedKernels(false, "causal");
      let off;
      try {
        off = recordKernelCalls(/^MemtrainCausal/, () => fx.trainer.step({ x: fx.x, y: fx.y }));
      } finally {
        setFusedKernels(was, "causal");
      }
      assert.ok(on.length > 0 && off.length === 0, `causal calls on ${on.length}, off ${off.length}`);
    } finally {
      fx.dispose();
    }
  },
);
