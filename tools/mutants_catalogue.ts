/**
 * The mutation catalogue run by `deno task mutants` (`tools/mutants.ts`): small, realistic bugs that type-check, each
 * with the test files that must catch it. A mutant's `find` text must occur exactly once in its file (else the mutant
 * is STALE and the run fails): keep it short and distinctive, so re-anchoring after a refactor is a search away.
 * New modules add mutants for their own invariants here.
 * @module
 */

/** One text edit: replace the single occurrence of `find` in `file` with `replace`. */
export interface MutantEdit {
  /** Path from the repository root. */
  file: string;
  /** Exact text, which must occur exactly once in `file`. */
  find: string;
  /** What it becomes. */
  replace: string;
}

/** One mutant: either `file`/`find`/`replace`, or `edits` for a bug that spans several places. */
export interface Mutant {
  /** Unique name (`--only` selects by it). */
  name: string;
  /** Which part of the toolkit it breaks. */
  area:
    | "nn"
    | "backend"
    | "mesa"
    | "checkpoint"
    | "memory"
    | "optim"
    | "train"
    | "data"
    | "experiments"
    | "wtacrs"
    | "mezo"
    | "lora"
    | "galore"
    | "streambp";
  /** One line: the bug, as a user would describe it. */
  description: string;
  file?: string;
  find?: string;
  replace?: string;
  edits?: MutantEdit[];
  /** Test files to run (from the repository root); at least one test must fail. */
  tests: string[];
  /** Optional `deno test --filter` to run only the tests that matter. */
  filter?: string;
}

/** The nn kernels (`lib/nn/kernels/`), one file per op, and the Mesa and Adam kernels of their owners. */
const KERNELS = "lib/nn/kernels", MESA_KERNELS = "lib/mesa/kernels.ts", ADAM_KERNEL = "lib/optim/adam_kernel.ts";
const REFERENCE = "tests/nn/reference_test.ts", OPS_TEST = "tests/nn/kernels/ops_test.ts";
const CAUSAL_TEST = "tests/nn/kernels/causal_mask_test.ts", FUSED_GRADS = "tests/nn/fused_grads_test.ts";

/** The catalogue. */
export const MUTANTS: Mutant[] = [
  // --- the bugs of issue 19 ------------------------------------------------------------------------------------
  {
    name: "causal-mask-shift",
    area: "nn",
    description: "the causal mask lets each token see the next one, in all three implementations (stock, JS, SIMD)",
    // One definition (lastVisibleKey: the stock mask tensor via causalMaskValues, and the fused JS loop) plus the SIMD
    // scaleMask loop, which is only tested against the definition.
    edits: [
      {
        file: `${KERNELS}/causal_mask.ts`,
        find: "return row + tk - tq;",
        replace: "return Math.min(row + tk - tq + 1, tk - 1);",
      },
      {
        file: `${KERNELS}/softmax_simd.ts`,
        find: "I.i32Sub, I.i32(1), I.i32Add); // r mod t + 1",
        replace: "I.i32Sub, I.i32(2), I.i32Add); // r mod t + 1",
      },
    ],
    tests: [REFERENCE, CAUSAL_TEST],
  },
  {
    name: "mesa-seed-stuck",
    area: "mesa",
    description:
      "Mesa's per-pack seed is stuck: every pack of a tag gets the same rounding noise (whatever the step or tag)",
    file: "lib/mesa/policy.ts",
    find: "savedRng(opts.seed, info).nextU32()",
    replace: 'savedRng(opts.seed, { tag: "", role: info.role }).nextU32()',
    tests: ["tests/mesa/statistics_test.ts", "tests/mesa/replay_test.ts"],
  },
  {
    name: "mesa-bias-0.98u",
    area: "mesa",
    description: "stochastic rounding adds 0.98u instead of u (a ~1% bias), in all three implementations",
    // One constant: uniformAt (stock fillUniform, fused JS loop) and the SIMD vNoise/sNoise read NOISE_HASH.unit.
    file: "lib/mesa/noise_hash.ts",
    find: "UNIT = 5.960464477539063e-8; // UNIT = 2^-24",
    replace: "UNIT = 0.98 * 5.960464477539063e-8; // UNIT = 2^-24",
    tests: ["tests/mesa/statistics_test.ts", "tests/mesa/noise_hash_test.ts"],
  },
  {
    name: "meter-external-no-peak",
    area: "memory",
    description: "the meter's addExternal no longer raises the peak",
    file: "lib/memory/meter.ts",
    find: "    this.external += bytes;\n    this.bump();",
    replace: "    this.external += bytes;",
    tests: ["tests/memory/meter_test.ts"],
  },
  {
    name: "peak-drops-segment-input",
    area: "checkpoint",
    description: "predictPeakSavedBytes forgets the reloaded segment input while a segment recomputes",
    file: "lib/checkpoint/segment.ts",
    find: "nested = Math.max(nested, held + own + inner.held, held + inner.nested);",
    replace: "nested = Math.max(nested, held + inner.held, held + inner.nested);",
    tests: ["tests/checkpoint/memory_test.ts"],
    filter: "measured maximum",
  },
  {
    name: "peak-nested-keeps-outer-input",
    area: "checkpoint",
    description: "predictPeakSavedBytes keeps an outer segment's input alive while a nested segment recomputes",
    file: "lib/checkpoint/segment.ts",
    find: "held + own + inner.held, held + inner.nested);",
    replace: "held + own + inner.held, held + own + inner.nested);",
    tests: ["tests/checkpoint/memory_test.ts"],
    filter: "measured maximum",
  },
  {
    name: "fused-softmax-leak",
    area: "nn",
    description: "the fused scaled softmax leaks its scratch wasm buffer on every call",
    file: `${KERNELS}/softmax.ts`,
    find: "  be.disposeData(z.dataId);\n  return p;",
    replace: "  return p;",
    tests: [OPS_TEST],
    filter: "every fused op",
  },
  // --- nn ------------------------------------------------------------------------------------------------------
  {
    name: "attention-scale-1/dh",
    area: "nn",
    description: "attention scores are scaled by 1/dh instead of 1/sqrt(dh), in forward and backward alike",
    edits: [
      {
        file: "lib/nn/attention.ts",
        find: "attentionProbs(scores, 1 / Math.sqrt(dh),",
        replace: "attentionProbs(scores, 1 / dh,",
      },
      {
        file: "lib/nn/attention.ts",
        find: "const scale = 1 / Math.sqrt(dh);",
        replace: "const scale = 1 / dh;",
      },
    ],
    tests: [REFERENCE],
  },
  {
    name: "layernorm-default-eps",
    area: "nn",
    description: "LayerNorm's default eps is 1e-3 instead of 1e-5 (forward and backward agree with each other)",
    file: "lib/nn/layernorm.ts",
    find: "readonly eps = 1e-5",
    replace: "readonly eps = 1e-3",
    tests: [REFERENCE],
  },
  {
    name: "block-ln2-reads-x",
    area: "nn",
    description: "the block's second LayerNorm reads the block input x instead of the residual stream h",
    file: "lib/nn/block.ts",
    find: "this.ln2.forward(h, ctx.child",
    replace: "this.ln2.forward(x, ctx.child",
    tests: [REFERENCE, "tests/nn/layers_test.ts"],
  },
  {
    name: "xent-sum-not-mean",
    area: "nn",
    description: "the unweighted cross-entropy sums the per-position losses instead of averaging them",
    file: "lib/nn/cross_entropy.ts",
    find: "if (!weights) return tf.mean(nll) as tf.Scalar;",
    replace: "if (!weights) return tf.sum(nll) as tf.Scalar;",
    tests: [REFERENCE],
  },
  {
    name: "gelu-tail-drops-cubic",
    area: "nn",
    description: "the fused GELU's scalar tail (after the SIMD loop) drops the cubic term",
    file: `${KERNELS}/gelu.ts`,
    find: "yv[i] = v / (1 + Math.exp(-v * (K1 + K3 * v * v)));",
    replace: "yv[i] = v / (1 + Math.exp(-v * K1));",
    tests: [REFERENCE],
    filter: "GELU",
  },
  {
    name: "sequence-drops-input-grad",
    area: "nn",
    description: "Sequence.backward frees its input gradient and returns null, as if its input were token ids",
    file: "lib/nn/sequence.ts",
    find: "return g === dy ? dy.clone() : g;",
    replace: "g?.dispose();\n    return null;",
    tests: ["tests/nn/layers_test.ts"],
    filter: "Sequence(Linear, Gelu, Linear)",
  },
  {
    name: "map-params-ignores-f",
    area: "nn",
    description:
      "mapParams computes the mapped value but hands out the base parameter (a MeZO forward on θ, not θ + ε·z)",
    file: "lib/nn/provider.ts",
    find: "      return out;\n    },\n  };",
    replace: "      return v;\n    },\n  };",
    tests: ["tests/nn/provider_test.ts"],
  },
  {
    name: "map-params-cached",
    area: "nn",
    description: "mapParams keeps each mapped value and hands it out again on later reads (a parameter set held)",
    edits: [
      {
        file: "lib/nn/provider.ts",
        find: "ParamProvider {\n  return {\n    names: () => base.names(),",
        replace:
          "ParamProvider {\n  const cache = new Map<string, tf.Tensor>();\n  return {\n    names: () => base.names(),",
      },
      {
        file: "lib/nn/provider.ts",
        find: "      const v = base.read(name);\n      if (v === undefined) return undefined;",
        replace: "      const hit = cache.get(name);\n      if (hit) return hit;\n" +
          "      const v = base.read(name);\n      if (v === undefined) return undefined;",
      },
      {
        file: "lib/nn/provider.ts",
        find: "      return out;\n    },\n  };",
        replace: "      cache.set(name, tf.keep(out));\n      return out;\n    },\n  };",
      },
    ],
    tests: ["tests/nn/provider_test.ts"],
  },
  {
    name: "attention-slice-top-rows",
    area: "nn",
    description:
      "attention on a slice [start, e) takes the first e − start query rows, forgetting the bottom-right offset",
    file: "lib/nn/attention.ts",
    find: "qAll.slice([0, 0, start, 0], [b, h, tq, dh])",
    replace: "qAll.slice([0, 0, 0, 0], [b, h, tq, dh])",
    tests: ["tests/nn/slice_test.ts"],
  },
  {
    name: "block-slice-pad-wrong-end",
    area: "nn",
    description: "a block's backward on a slice pads the residual gradient after the query rows instead of before them",
    file: "lib/nn/block.ts",
    find: "tf.pad(dh, [[0, 0], [e - tq, 0], [0, 0]])",
    replace: "tf.pad(dh, [[0, 0], [0, e - tq], [0, 0]])",
    tests: ["tests/nn/slice_test.ts"],
  },
  {
    name: "attention-slice-dq-pad-wrong-end",
    area: "nn",
    description: "attention's backward on a slice pads dq after the query rows instead of before them",
    file: "lib/nn/attention.ts",
    find: "dq = tf.pad(dq, [[0, 0], [e - tq, 0], [0, 0]]);",
    replace: "dq = tf.pad(dq, [[0, 0], [0, e - tq], [0, 0]]);",
    tests: ["tests/nn/slice_test.ts"],
  },
  // --- nn kernels (lib/nn/kernels) ------------------------------------------------------------------------------
  {
    name: "embed-batch-as-position",
    area: "nn",
    description: "the fused embedding adds the position row of the batch index instead of the position",
    file: `${KERNELS}/embed.ts`,
    find: "pos = (i % t) * d,",
    replace: "pos = Math.floor(i / t) * d,",
    tests: [OPS_TEST],
    filter: "every fused op",
  },
  {
    name: "layernorm-grad-js-sign",
    area: "nn",
    description: "the fused LayerNorm backward's JS loop adds x̂·mean(dx̂·x̂) instead of subtracting it",
    file: `${KERNELS}/layernorm.ts`,
    find: "rs * (dyv[o + j] * gv[j] - m1 - xh * m2)",
    replace: "rs * (dyv[o + j] * gv[j] - m1 + xh * m2)",
    tests: [OPS_TEST, FUSED_GRADS],
    filter: "/every fused op|explicit backward/",
  },
  {
    name: "softmax-grad-simd-sign",
    area: "nn",
    description: "the SIMD softmax backward adds Σ dp·p instead of subtracting it",
    file: `${KERNELS}/softmax_simd.ts`,
    find: "f.emit(I.load(), I.get(DOT), I.sub, I.mul, I.store());",
    replace: "f.emit(I.load(), I.get(DOT), I.add, I.mul, I.store());",
    tests: [OPS_TEST, FUSED_GRADS],
    filter: "/every fused op|explicit backward/",
  },
  {
    name: "split-heads-interleaved",
    area: "nn",
    description: "the fused splitHeads reads q/k/v interleaved per head instead of as three blocks",
    file: `${KERNELS}/heads.ts`,
    find: "const src = row + p * dim + h * dh,",
    replace: "const src = row + h * parts * dh + p * dh,",
    tests: [OPS_TEST],
    filter: "every fused op",
  },
  {
    name: "xent-exact-path-drops-max",
    area: "nn",
    description: "the fused cross-entropy's exact log-sum-exp (for p(target) < 1e-30) forgets to add back the max",
    file: `${KERNELS}/xent.ts`,
    find: "nv[r] = max + Math.log(s) - zv[o + y];",
    replace: "nv[r] = Math.log(s) - zv[o + y];",
    tests: [REFERENCE],
    filter: "cross-entropy",
  },
  {
    name: "adam-js-decay-sign",
    area: "optim",
    description: "the fused AdamW's JS loop subtracts the weight decay term instead of adding it",
    file: ADAM_KERNEL,
    find: "epsHat) + wd * pv[i]);",
    replace: "epsHat) - wd * pv[i]);",
    tests: ["tests/optim/adam_kernel_test.ts"],
  },
  // --- mesa ------------------------------------------------------------------------------------------------------
  {
    name: "quantize-clamp-256",
    area: "mesa",
    description: "the quantizer clamps codes to [0, 256], so the top value wraps to code 0 in a byte",
    file: "lib/mesa/quantize.ts",
    find: "tf.clipByValue(r, 0, LEVELS - 1)",
    replace: "tf.clipByValue(r, 0, LEVELS)",
    tests: ["tests/mesa/quantize_test.ts"],
  },
  {
    name: "ema-weights-swapped",
    area: "mesa",
    description: "the running range gives the new batch weight λ and the history 1 − λ",
    file: "lib/mesa/state.ts",
    find: "tf.keep(tf.add(tf.mul(prev.alpha, lam), tf.mul(range, 1 - lam))),",
    replace: "tf.keep(tf.add(tf.mul(prev.alpha, 1 - lam), tf.mul(range, lam))),",
    tests: ["tests/mesa/policy_test.ts"],
  },
  {
    name: "expand-forgets-beta",
    area: "mesa",
    description: 'outOfRange "expand" takes the running range\'s top as α instead of β + α',
    file: "lib/mesa/policy.ts",
    find: "tf.maximum(tf.add(r.beta, r.alpha), max)",
    replace: "tf.maximum(r.alpha, max)",
    tests: ["tests/mesa/policy_test.ts"],
  },
  {
    name: "mesa-predict-4-per-group",
    area: "mesa",
    description: "Mesa's predicted bytes count 4 bytes per group instead of 8 (α and β)",
    file: "lib/mesa/policy.ts",
    find: "return n + 8 * groupLayout(",
    replace: "return n + 4 * groupLayout(",
    tests: ["tests/mesa/policy_test.ts"],
  },
  {
    name: "mesa-except-no-dot",
    area: "mesa",
    description: 'mesaExcept(["blocks.1"]) also matches "blocks.10..." (prefix without the dot)',
    file: "lib/mesa/select.ts",
    find: 'const heads = prefixes.map((p) => (p.endsWith(".") ? p : `${p}.`));',
    replace: "const heads = prefixes.slice();",
    tests: ["tests/mesa/policy_test.ts"],
  },
  {
    name: "dequantize-simd-any-rest",
    area: "mesa",
    description: "the fused dequantize runs its SIMD loop on groups whose length is not a multiple of 4",
    file: MESA_KERNELS,
    find: "if (sk && rest % 4 === 0) {\n    sk.mesaDequantize(",
    replace: "if (sk) {\n    sk.mesaDequantize(",
    tests: ["tests/mesa/kernels_test.ts"],
  },
  {
    name: "mesa-replay-folds-twice",
    area: "mesa",
    description: "a replayed Mesa pack (same { step, seed }) folds the batch into the running range a second time",
    file: "lib/mesa/state.ts",
    find: "old.last && old.last.step === key.step && old.last.seed === key.seed &&",
    replace: "old.last === key &&",
    tests: ["tests/mesa/replay_test.ts"],
  },
  // --- checkpoint --------------------------------------------------------------------------------------------------
  {
    name: "sqrt-plan-uneven",
    area: "checkpoint",
    description: 'the "sqrt" plan gives one block too many to the first segments',
    file: "lib/checkpoint/plan.ts",
    find: "base + (i < extra ? 1 : 0)",
    replace: "base + (i <= extra ? 1 : 0)",
    tests: ["tests/checkpoint/plan_test.ts"],
  },
  {
    name: "recompute-ignores-selector",
    area: "checkpoint",
    description: "a segment's recomputed forward keeps everything instead of saving through the caller's selector",
    file: "lib/checkpoint/segment.ts",
    find: "const rctx = parent.withStore(tmp);",
    replace: "const rctx = parent.withStore(tmp).withSelector(keepAll);",
    tests: ["tests/checkpoint/memory_test.ts"],
    filter: "outer selector",
  },
  // --- memory ------------------------------------------------------------------------------------------------------
  {
    name: "meter-never-releases",
    area: "memory",
    description: "the meter no longer subtracts a freed buffer's bytes",
    file: "lib/memory/meter.ts",
    find: "      seen.delete(dataId);\n      m.tensorBytes -= bytes;",
    replace: "      seen.delete(dataId);",
    tests: ["tests/memory/meter_test.ts"],
  },
  {
    name: "measure-no-reset",
    area: "memory",
    description: "measure() does not reset the peak, so earlier peaks leak into the call's peakBytes",
    file: "lib/memory/measure.ts",
    find: "  m.resetPeak();\n  p.resetPeak();",
    replace: "  p.resetPeak();",
    tests: ["tests/memory/meter_test.ts"],
  },
  {
    name: "analytic-drops-group-axis",
    area: "nn",
    description: "the analytic count ignores the saved tensors' group axis (head-wise Mesa predicted per-tensor)",
    file: "lib/nn/analytic.ts",
    find: "...(s.groupAxis === undefined ? {} : { groupAxis: s.groupAxis })",
    replace: "",
    tests: ["tests/mesa/models_test.ts"],
    filter: "meter = analytic exactly",
  },
  // --- optim -------------------------------------------------------------------------------------------------------
  {
    name: "adam-eps-not-corrected",
    area: "optim",
    description: "scaleByAdam adds eps without the sqrt(1 − b2^t) bias correction (one definition: adamw's too)",
    file: ADAM_KERNEL,
    find: "epsHat: eps * sqrtBc2 };",
    replace: "epsHat: eps };",
    tests: ["tests/optim/adam_test.ts", "tests/optim/adam_kernel_test.ts"],
  },
  {
    name: "sgd-nesterov-drops-momentum",
    area: "optim",
    description: "Nesterov SGD adds the trace without the momentum factor",
    file: "lib/optim/sgd.ts",
    find: "nesterov ? tf.add(g, tf.mul(t, momentum))",
    replace: "nesterov ? tf.add(g, t)",
    tests: ["tests/optim/sgd_test.ts"],
  },
  {
    name: "clip-min-not-max",
    area: "optim",
    description: "clipByGlobalNorm scales by maxNorm / min(norm, maxNorm), inflating small gradients",
    file: "lib/optim/clip.ts",
    find: "tf.maximum(globalNormTensor(grads), maxNorm)",
    replace: "tf.minimum(globalNormTensor(grads), maxNorm)",
    tests: ["tests/optim/clip_test.ts"],
  },
  {
    name: "warmup-off-by-one",
    area: "optim",
    description: "the warmup ramp starts one step ahead (step 0 already above init)",
    file: "lib/optim/schedule.ts",
    find: "(s / warmupSteps)",
    replace: "((s + 1) / warmupSteps)",
    tests: ["tests/optim/schedule_test.ts"],
  },
  {
    name: "dispose-replaced-reused",
    area: "optim",
    description: "disposeReplaced frees every old tensor, also those the new state or parameters reuse",
    file: "lib/optim/transform.ts",
    find: "if (!live.has(t) && !t.isDisposed) t.dispose();",
    replace: "if (!t.isDisposed) t.dispose();",
    tests: ["tests/train/step_seam_test.ts"],
  },
  // --- train -------------------------------------------------------------------------------------------------------
  {
    name: "trainer-key-same-step",
    area: "train",
    description: "the Trainer passes step 0 in every pass key, so stochastic policies draw the same numbers each step",
    file: "lib/train/trainer.ts",
    find: "return { step: this.stepCount, seed: this.seed };",
    replace: "return { step: 0, seed: this.seed };",
    tests: ["tests/train/step_seam_test.ts"],
  },
  // --- backend -----------------------------------------------------------------------------------------------------
  {
    name: "registry-fused-under-tape",
    area: "backend",
    description:
      "the registry runs fused kernels under a gradient tape (no tfjs gradient: tf.grads stops being an oracle)",
    file: "lib/backend/registry.ts",
    find: 'return engine.backendName === "wasm" && !engine.isTapeOn();',
    replace: 'return engine.backendName === "wasm";',
    tests: ["tests/backend/registry_test.ts"],
  },
  // --- data --------------------------------------------------------------------------------------------------------
  {
    name: "lm-batch-skips-last-offset",
    area: "data",
    description: "sampleLmBatch never starts a window at the last possible offset",
    file: "lib/data/lm_batch.ts",
    find: "const starts = tokens.length - context;",
    replace: "const starts = tokens.length - context - 1;",
    tests: ["tests/data/lm_batch_test.ts"],
  },
  {
    name: "copy-mask-off-by-one",
    area: "data",
    description: "the copy task's mask skips the first copied position",
    file: "lib/data/synthetic.ts",
    find: "mask[row + t] = t >= h ? 1 : 0;",
    replace: "mask[row + t] = t > h ? 1 : 0;",
    tests: ["tests/data/synthetic_test.ts"],
  },
  {
    name: "rng-int-modulo-bias",
    area: "data",
    description: "Rng.int accepts every draw (modulo bias) instead of rejecting those above the last multiple of n",
    file: "lib/data/rng.ts",
    find: "const limit = TWO_POW_32 - (TWO_POW_32 % n);",
    replace: "const limit = TWO_POW_32;",
    tests: ["tests/data/rng_test.ts"],
  },
  // --- experiments config ------------------------------------------------------------------------------------------
  {
    name: "config-no-kebab-keys",
    area: "experiments",
    description: "--seq-len is no longer accepted for the config key seqLen",
    // camel() is the kebab -> camel step of every lookup (keys and aliases); the identity is "no kebab keys".
    file: "experiments/_lib/config.ts",
    find: "const camel = (key: string) => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());",
    replace: "const camel = (key: string) => key;",
    tests: ["tests/experiments/config_test.ts", "tests/experiments/aliases_test.ts"],
  },
  {
    name: "config-bool-zero",
    area: "experiments",
    description: '--flag=0 is no longer read as false (the "0" spelling dropped)',
    file: "experiments/_lib/config.ts",
    find: 'const FALSE = ["false", "0", "no", "off"];',
    replace: 'const FALSE = ["false", "no", "off"];',
    tests: ["tests/experiments/config_test.ts"],
  },
  {
    name: "fields-no-integer-kind",
    area: "experiments",
    description: "integer config fields are described as plain numbers",
    file: "experiments/_lib/fields.ts",
    find: 'c.kind === "int") ? "integer" : "number";',
    replace: 'c.kind === "int") ? "number" : "number";',
    tests: ["tests/experiments/config_test.ts"],
  },
  // --- WTA-CRS --------------------------------------------------------------------------------------------------
  {
    name: "wtacrs-unweighted-draws",
    area: "wtacrs",
    description: "WTA-CRS's sampled rows are not reweighted by 1/(s·p_i): the weight gradient is biased",
    file: "lib/wtacrs/estimator.ts",
    find: "scales[t++] = mass / (s * weights[i]));",
    replace: "scales[t++] = 1);",
    tests: ["tests/wtacrs/estimator_test.ts"],
  },
  {
    name: "wtacrs-winners-always",
    area: "wtacrs",
    description: "the adaptive rule keeps the best winner count even when it raises the variance above plain CRS",
    file: "lib/wtacrs/estimator.ts",
    find: "return 1 / k < best ? 0 : bestC;",
    replace: "return bestC;",
    tests: ["tests/wtacrs/estimator_test.ts"],
  },
  {
    name: "wtacrs-replay-resamples",
    area: "wtacrs",
    description: "the rows are drawn from a fresh random seed: a checkpoint recompute samples other rows",
    file: "lib/wtacrs/policy.ts",
    find: "return sampleRows(w, k, o.estimator, savedRng(o.seed, info));",
    replace: "return sampleRows(w, k, o.estimator, savedRng(o.seed + Math.floor(Math.random() * 1e9), info));",
    tests: ["tests/wtacrs/models_test.ts"],
  },
  {
    name: "wtacrs-cache-reads-own-step",
    area: "wtacrs",
    description: "a replayed step reads the norms its own first pass wrote (not the previous step's)",
    file: "lib/wtacrs/norm_cache.ts",
    find: "const v = e.last.step < step ? e.last",
    replace: "const v = e.last.step <= step ? e.last",
    tests: ["tests/wtacrs/policy_test.ts", "tests/wtacrs/models_test.ts"],
  },
  {
    name: "wtacrs-samples-padding",
    area: "wtacrs",
    description: "padding tokens keep a sampling probability (budget spent on rows whose gradient is zero)",
    file: "lib/wtacrs/policy.ts",
    find: "      if (live && !live[i]) w[i] = 0;",
    replace: "",
    tests: ["tests/wtacrs/policy_test.ts"],
  },
  {
    name: "wtacrs-predict-4-per-row",
    area: "wtacrs",
    description: "the analytic count charges 4 bytes per kept row instead of 8 (index + scale)",
    file: "lib/wtacrs/policy.ts",
    find: "return inner.predictBytes([k, cols], dtype, info) + 8 * k;",
    replace: "return inner.predictBytes([k, cols], dtype, info) + 4 * k;",
    tests: ["tests/wtacrs/policy_test.ts", "tests/wtacrs/models_test.ts"],
  },
  // --- the researcher's experience (issue 15) ---------------------------------------------------------------------
  {
    name: "shard-split-off-by-one",
    area: "experiments",
    description: "--shard I/N counts shards from 0, so shard N/N runs no cell and cell 0 is in no shard",
    file: "experiments/_lib/shards.ts",
    find: "i % count === index - 1",
    replace: "i % count === index",
    tests: ["tests/experiments/shards_test.ts"],
    filter: "shard",
  },
  {
    name: "merge-ignores-config",
    area: "experiments",
    description: "merge joins shards that ran with different configs",
    file: "experiments/_lib/shards.ts",
    find: "if (configs.length > 1) {",
    replace: "if (configs.length > 99) {",
    tests: ["tests/experiments/shards_test.ts"],
    filter: "mismatches",
  },
  {
    name: "default-out-is-results",
    area: "experiments",
    description: "a run without --out writes into the committed experiments/results/ again",
    file: "experiments/run.ts",
    find: "const outDir = cli.out ?? claimed ?? SCRATCH_DIR;",
    replace: "const outDir = cli.out ?? RESULTS_DIR;",
    tests: ["tests/experiments/scratch_test.ts"],
  },
  {
    name: "quick-under-results-allowed",
    area: "experiments",
    description: "--quick --out experiments/results/... overwrites a published result",
    file: "experiments/run.ts",
    find: "isUnderResults(cli.out) && cli.cell",
    replace: "isUnderResults(cli.out) && cli.cell === -1 && cli.cell",
    tests: ["tests/experiments/scratch_test.ts"],
    filter: "refused",
  },
  {
    name: "empty-list-accepted",
    area: "experiments",
    description: "--variants= (an empty list) is accepted and writes a result with no rows",
    edits: [
      {
        file: "experiments/_lib/config.ts",
        find: 'if (items.some((s) => s === ""))',
        replace: 'if (items.some((s) => s === "") && items.length > 1)',
      },
      {
        file: "experiments/_lib/results.ts",
        find: "if (rows.length === 0 && !allowEmpty)",
        replace: "if (rows.length === 0 && allowEmpty)",
      },
    ],
    tests: ["tests/experiments/config_test.ts", "tests/experiments/run_test.ts"],
  },
  {
    name: "notebooks-user-jupyter-dir",
    area: "experiments",
    description: "the notebook runner lets Jupyter write into the user's ~/.local/share/jupyter (runtime files)",
    file: "tools/run_notebooks.ts",
    find: "env: { JUPYTER_PATH: dir, JUPYTER_DATA_DIR: dir, JUPYTER_RUNTIME_DIR: `${dir}/runtime` },",
    replace: "env: { JUPYTER_PATH: dir },",
    tests: ["tests/tools/run_notebooks_test.ts"],
  },
  {
    name: "heap-tracker-peak-stale",
    area: "memory",
    description:
      "the heap tracker's high-water mark misses growths of the break after a reset (peak = the break at reset)",
    file: "lib/backend/heap_tracker.ts",
    find: "    if (now > this.#peak) this.#peak = now;",
    replace: "",
    tests: ["tests/backend/heap_tracker_test.ts"],
  },
  {
    name: "heap-tracker-free-uncounted",
    area: "memory",
    description: "the heap tracker forgets a JS free, so its live JS bytes (and their peak) only grow",
    file: "lib/backend/heap_tracker.ts",
    find: "        this.#jsLive -= bytes;",
    replace: "",
    tests: ["tests/backend/heap_tracker_test.ts"],
  },
  {
    name: "heap-plan-not-periodic",
    area: "backend",
    description: "the heap plan ignores that lifetimes repeat every two steps: carried blocks of the next step overlap",
    file: "lib/backend/heap_plan.ts",
    find: "    (x.start < y.end - Q && y.start - Q < x.end) ||\n    (x.start < y.end + Q && y.start + Q < x.end);",
    replace: "    false;",
    tests: ["tests/backend/heap_plan_test.ts", "tests/backend/heap_arena_test.ts"],
  },
  {
    name: "heap-space-alloc-at-overruns",
    area: "backend",
    description: "the arena's space places a block at a planned address inside a hole too small for it (overlap)",
    file: "lib/backend/heap_space.ts",
    find: "      if (address + n <= start + size) return this.#take(address, n);",
    replace: "      return this.#take(address, n);",
    tests: ["tests/backend/heap_space_test.ts", "tests/backend/heap_arena_test.ts"],
  },
  {
    name: "heap-arena-never-replans",
    area: "backend",
    description: "the heap arena keeps its first plan after a step left it, so later steps keep falling back",
    file: "lib/backend/heap_arena.ts",
    find: "(!this.#plan || this.#diverged || this.#stepFallbacks > 0)",
    replace: "!this.#plan",
    tests: ["tests/backend/heap_arena_test.ts"],
  },
  // --- MeZO and LoRA (issue 11) ----------------------------------------------------------------------------------
  {
    name: "mezo-minus-other-direction",
    area: "mezo",
    description: "MeZO's θ−εz evaluation draws its own direction (seed + 1) instead of the same z as θ+εz",
    file: "lib/mezo/step.ts",
    find: "perturbed(model.params, state.names, s, -eps, noise)",
    replace: "perturbed(model.params, state.names, s + 1, -eps, noise)",
    tests: ["tests/mezo/step_test.ts"],
    filter: "quadratic",
  },
  {
    name: "mezo-g-twice",
    area: "mezo",
    description: "the projected gradient divides by ε instead of 2ε (a biased, doubled gradient estimate)",
    file: "lib/mezo/step.ts",
    find: "(lp - lm) / (2 * eps)",
    replace: "(lp - lm) / eps",
    tests: ["tests/mezo/step_test.ts"],
    filter: "quadratic",
  },
  {
    name: "mezo-key-ignores-name",
    area: "mezo",
    description: "z's key ignores the parameter's name: every tensor gets the same direction (correlated z)",
    file: "lib/mezo/noise.ts",
    find: "h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);",
    replace: "h = Math.imul(h, 0x01000193);",
    tests: ["tests/mezo/noise_test.ts"],
  },
  {
    name: "mezo-decays-biases",
    area: "mezo",
    description: "MeZO's weight decay applies to biases and norms too",
    file: "lib/mezo/step.ts",
    find: "options.decayMask ?? defaultDecayMask",
    replace: "options.decayMask ?? (() => true)",
    tests: ["tests/mezo/step_test.ts"],
    filter: "skips biases",
  },
  {
    name: "mezo-update-keeps-old",
    area: "mezo",
    description: "the MeZO step keeps the tensor it replaced until the step ends (a leak)",
    file: "lib/mezo/step.ts",
    find: "old.dispose(); // now, not after the step",
    replace: "// now, not after the step",
    tests: ["tests/mezo/step_test.ts"],
    filter: "skips biases",
  },
  {
    name: "lora-b-random",
    area: "lora",
    description: "LoRA's B starts random instead of zero, so the adapted model no longer equals the base at init",
    file: "lib/lora/linear.ts",
    find: 'shape: [this.rank, this.base.outDim], init: { kind: "zeros" }',
    replace: 'shape: [this.rank, this.base.outDim], init: { kind: "normal", std: 0.02 }',
    tests: ["tests/lora/lora_test.ts"],
    filter: "B = 0",
  },
  {
    name: "frozen-linear-saves-input",
    area: "nn",
    description: "a Linear with a frozen weight still saves its input for a weight gradient it never computes",
    file: "lib/nn/linear.ts",
    find: 'if (ctx.trainable("w")) ctx.save("input", x2, "linear.input", 1);',
    replace: 'ctx.save("input", x2, "linear.input", 1);',
    tests: ["tests/lora/lora_test.ts", "tests/nn/trainable_test.ts"],
  },
  // --- GaLore (issue 10) ------------------------------------------------------------------------------------------
  {
    name: "galore-refresh-off-by-one",
    area: "galore",
    description:
      "GaLore refreshes the subspace at steps T-1, 2T-1, ... instead of 0, T, 2T (step 0 keeps the identity)",
    file: "lib/galore/galore.ts",
    find: "const refresh = count % gap === 0;",
    replace: "const refresh = (count + 1) % gap === 0;",
    tests: ["tests/galore/galore_test.ts"],
    filter: "refreshes happen exactly",
  },
  {
    name: "galore-nan-projector",
    area: "galore",
    description: "a refresh on a gradient with NaN (or an SVD returning NaN) installs the broken projector",
    file: "lib/galore/galore.ts",
    find: "if (!Number.isFinite(a[i])) return false;",
    replace: "if (Number.isNaN(a[i]) && i < 0) return false;",
    tests: ["tests/galore/galore_test.ts"],
    filter: "NaN",
  },
  {
    name: "galore-rotate-nu-linear",
    area: "galore",
    description: "rotateMoments rotates Adam's second moment with C instead of C squared (signs flip V negative)",
    file: "lib/galore/galore.ts",
    find: "const c2 = tf.square(c);",
    replace: "const c2 = c;",
    tests: ["tests/galore/galore_test.ts"],
    filter: "rotateMoments",
  },
  {
    name: "galore-side-from-shape",
    area: "galore",
    description:
      "back-projection infers the side from the projected update's shape (wrong when it is square, ms-swift)",
    file: "lib/galore/galore.ts",
    find: "tf.mul(projectBack(u, proj[k].p, proj[k].side), scale)",
    replace: 'tf.mul(projectBack(u, proj[k].p, u.shape[0]! < u.shape[1]! ? "left" : "right"), scale)',
    tests: ["tests/galore/galore_test.ts"],
    filter: "stored side",
  },
  {
    name: "galore-analytic-projector-max",
    area: "galore",
    description: "the analytic state count sizes each projector r x max(m, n) instead of r x min(m, n)",
    file: "lib/galore/memory.ts",
    find: 'rank * (side === "left" ? shape[0] : shape[1]);',
    replace: "rank * Math.max(shape[0], shape[1]);",
    tests: ["tests/galore/memory_test.ts"],
  },
  // --- update in backward (issue 13) ---------------------------------------------------------------------------
  {
    name: "uib-final-on-first-contribution",
    area: "train",
    description:
      "update in backward treats a gradient as final at its first contribution, so a tied parameter is updated before all its uses are summed",
    file: "lib/train/update_in_backward.ts",
    find: "if (n === s.reads.get(k)) s.final(k);",
    replace: "if (n === 1) s.final(k);",
    tests: ["tests/train/update_in_backward_test.ts"],
    filter: "tied",
  },
  {
    name: "uib-old-param-freed-at-update",
    area: "train",
    description:
      "update in backward frees a parameter's old value as soon as it is updated, while its layer's backward still reads it (a Linear's dx)",
    file: "lib/train/update_in_backward.ts",
    find: "release[s.firstReader.get(k) ?? s.current].push(k);",
    replace: "old[k].dispose();",
    tests: ["tests/train/update_in_backward_test.ts"],
    filter: "bit for bit",
  },
  {
    name: "per-param-keeps-old-state",
    area: "optim",
    description: "the per-parameter update keeps every old moment until the step ends (two optimizer states coexist)",
    file: "lib/optim/separable.ts",
    find: "disposeAt(this.state, this.#keys, k, tensorsOf(r.state, new Set()));",
    replace: "tensorsOf(r.state, new Set());",
    tests: ["tests/train/update_in_backward_test.ts"],
    filter: "lower than the whole-set",
  },
  {
    name: "in-place-step-never-chosen",
    area: "train",
    description: "the standard step takes the whole-set path for a separable optimizer too (no in-place update)",
    file: "lib/train/gradient_step.ts",
    find: 'const perParam = mode === "per-param" &&',
    replace: 'const perParam = mode !== "per-param" &&',
    tests: ["tests/train/update_in_backward_test.ts"],
    filter: "lower than the whole-set",
  },

  {
    name: "clip-declared-separable",
    area: "optim",
    description:
      "clipByGlobalNorm declares itself separable, so update in backward clips each parameter by its own norm",
    file: "lib/optim/clip.ts",
    find: "separable: false,",
    replace: "separable: true,",
    tests: ["tests/train/update_in_backward_test.ts"],
    filter: "refuses a global transform",
  },
  // --- StreamBP (issue 12) ----------------------------------------------------------------------------------------
  {
    name: "streambp-chunk-mean",
    area: "streambp",
    description:
      "each LM-head chunk's loss gradient is a mean over that chunk's own positions, not divided by the global N",
    file: "lib/streambp/head.ts",
    find: "softmaxXentGrad(probs, yc, (b * c) / n)",
    replace: "softmaxXentGrad(probs, yc, 1)",
    tests: ["tests/streambp/loss_test.ts", "tests/streambp/grads_test.ts"],
  },
  {
    name: "streambp-denominator-counts-masked",
    area: "streambp",
    description: "the loss denominator counts prompt and padding positions (weight 0) as targets",
    file: "lib/streambp/head.ts",
    find: "tf.sum(weights).dataSync()[0]",
    replace: "tf.sum(tf.onesLike(weights)).dataSync()[0]",
    tests: ["tests/streambp/loss_test.ts", "tests/streambp/grads_test.ts"],
  },
  {
    name: "streambp-kv-own-grad-dropped",
    area: "streambp",
    description: "a chunk's backward ignores the gradient later chunks sent to its own keys/values (cached mode)",
    file: "lib/streambp/stream_block.ts",
    find: "return kvBlockBackward(block, dyc, own, c);",
    replace: "return kvBlockBackward(block, dyc, null, c);",
    tests: ["tests/streambp/grads_test.ts"],
  },
  {
    name: "streambp-kv-acc-replaced",
    area: "streambp",
    description: "the prefix key/value gradient accumulator is replaced by the latest chunk's instead of summed",
    file: "lib/streambp/stream_block.ts",
    find: "if (r.dPast && accPast) {",
    replace: "if (r.dPast && accPast && start < 0) {",
    tests: ["tests/streambp/grads_test.ts"],
  },
  {
    name: "streambp-accumulate-shared-in-place",
    area: "streambp",
    description: "the in-place gradient accumulation writes into a buffer another tensor still shares",
    file: "lib/streambp/accumulate.ts",
    find:
      "const shared = ((be as unknown as RefCounted).dataIdMap.get(acc.dataId)?.refCount ?? 0) !== 1;\n  const out = shared ? be.makeOutput(acc.shape.slice()",
    replace:
      "const shared = ((be as unknown as RefCounted).dataIdMap.get(acc.dataId)?.refCount ?? 0) > 1e9;\n  const out = shared ? be.makeOutput(acc.shape.slice()",
    tests: ["tests/streambp/accumulate_test.ts"],
  },
  {
    name: "streambp-score-cap-exceeded",
    area: "streambp",
    description: "maxScores lets a chunk hold up to twice the attention scores it allows (rows x keys)",
    file: "lib/streambp/chunks.ts",
    find: "Math.sqrt(s * s + 4 * maxScores)",
    replace: "Math.sqrt(s * s + 8 * maxScores)",
    tests: ["tests/streambp/chunks_test.ts"],
  },
  {
    name: "causal-block-misses-last-key",
    area: "nn",
    description: "a row block of causal attention's blocked products stops one key before the last one it sees",
    file: "lib/nn/kernels/causal_matmul.ts",
    find: "return Math.min(tk, lastVisibleKey(r1 - 1, tq, tk) + 1);",
    replace: "return Math.min(tk, lastVisibleKey(r1 - 1, tq, tk));",
    tests: ["tests/nn/kernels/causal_matmul_test.ts"],
  },
  {
    name: "causal-block-ignores-query-offset",
    area: "nn",
    description: "the blocked causal products align the mask top-left, ignoring the query offset of a slice (tq < tk)",
    file: "lib/nn/kernels/causal_matmul.ts",
    find: "return Math.max(0, c0 - lastVisibleKey(0, tq, tk));",
    replace: "return Math.max(0, c0);",
    tests: ["tests/nn/kernels/causal_matmul_test.ts"],
  },
  {
    name: "causal-scores-zero-diagonal",
    area: "nn",
    description: "the blocked causal scores zero the diagonal too (each query stops seeing its own key)",
    file: "lib/nn/kernels/causal_matmul.ts",
    find: "o + r * tk + lastVisibleKey(r, tq, tk) + 1, o +",
    replace: "o + r * tk + lastVisibleKey(r, tq, tk), o +",
    tests: ["tests/nn/kernels/causal_matmul_test.ts"],
  },
  {
    name: "causal-qkv-grad-dq-at-row-0",
    area: "nn",
    description: "the in-place q/k/v gradient writes dq from row 0 instead of the slice's first query row (tq < e)",
    file: "lib/nn/kernels/causal_matmul.ts",
    find: "merged(o + (e - tq) * w, e, w, h, dh, 0)",
    replace: "merged(o, e, w, h, dh, 0)",
    tests: ["tests/nn/kernels/causal_matmul_test.ts"],
  },
];
