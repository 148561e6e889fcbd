/**
 * `deno task bench --profile`: one GPT training step (forward, loss, explicit backward, AdamW update: what the
 * gpt-step section times) under `tf.profile`, aggregated per kernel, plus the step's non-kernel overhead (JS work
 * outside kernels, tensor bookkeeping, tidy scopes, the loss read).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import Table from "cli-table3";
import { type BenchBackend, type Threading, threadingOf, timeMedian } from "./common.ts";
import { GPT_BENCH_CONFIGS, gptStepFixture } from "./gpt_step.ts";

/** One kernel's total over a profiled step. */
export interface KernelStat {
  /** Kernel name as tfjs reports it (e.g. "BatchMatMul", "MemtrainGelu"). */
  name: string;
  /** Milliseconds per step spent in this kernel. */
  ms: number;
  /** Calls per step. */
  calls: number;
  /** Share of the summed kernel time, in [0, 1] (0 for wrappers). */
  share: number;
  /**
   * True for an op wrapper (`tf.customGrad` ops such as `logSoftmax__op`): tfjs records it like a kernel, but its time
   * includes the kernels it runs, which are recorded too. Wrappers are left out of the sums.
   */
  wrapper?: boolean;
}

/** tfjs names the pseudo-kernel of a `tf.customGrad` op after its scope, `<op>__op`. */
const isWrapper = (name: string) => name.endsWith("__op");

/** The profile of one GPT config on one backend. */
export interface StepProfile {
  /** memtrain backend name. */
  backend: string;
  /** Compute threads. */
  threads: number;
  /** For blas with more than one thread: whose threads split the matmuls. */
  threading?: Threading;
  /** GPT config name (a key of `GPT_BENCH_CONFIGS`). */
  config: string;
  /** Median wall time of an unprofiled step. */
  stepMs: number;
  /** Wall time of a profiled step (profiling adds bookkeeping per kernel). */
  profiledStepMs: number;
  /** Summed kernel time per step. */
  kernelMs: number;
  /**
   * `profiledStepMs - kernelMs`: time per step outside kernels (JS between kernels, tensor and tidy bookkeeping, the
   * loss read), measured on the same steps as the kernels (the unprofiled median comes from other steps, and on a
   * shared machine their difference is mostly noise).
   */
  overheadMs: number;
  /** Kernel calls per step. */
  kernelCalls: number;
  /** Per-kernel totals, slowest first. */
  kernels: KernelStat[];
}

/** Options for {@linkcode profileGptStep}. */
export interface ProfileOptions {
  /** Profiled steps averaged. @default {1} */
  steps?: number;
  /** Minimum milliseconds of unprofiled timing. @default {300} */
  minMs?: number;
}

/**
 * Sums `kernels` (as in `tf.profile(...).kernels`) per name and divides by `steps`; sorted by time, slowest first.
 *
 * @example Usage
 * ```ts ignore
 * aggregateKernels([{ name: "Add", kernelTimeMs: 2 }, { name: "Add", kernelTimeMs: 1 }]);
 * // [{ name: "Add", ms: 3, calls: 2, share: 1 }]
 * ```
 */
export function aggregateKernels(
  kernels: readonly { name: string; kernelTimeMs: unknown }[],
  steps = 1,
): KernelStat[] {
  const by = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const a = by.get(k.name) ?? { ms: 0, calls: 0 };
    a.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0; // some backends report { error }
    a.calls++;
    by.set(k.name, a);
  }
  const total = [...by].reduce((s, [name, a]) => s + (isWrapper(name) ? 0 : a.ms), 0);
  return [...by].map(([name, a]) => ({
    name,
    ms: a.ms / steps,
    calls: a.calls / steps,
    share: total > 0 && !isWrapper(name) ? a.ms / total : 0,
    ...(isWrapper(name) ? { wrapper: true } : {}),
  })).sort((x, y) => y.ms - x.ms || x.name.localeCompare(y.name));
}

/**
 * Profiles the GPT training step of `config` on the active backend (already initialized to `backend`): two warmup
 * steps, the median unprofiled step time, then `steps` steps under `tf.profile`.
 */
export async function profileGptStep(
  backend: BenchBackend,
  config: string,
  options: ProfileOptions = {},
): Promise<StepProfile> {
  const spec = GPT_BENCH_CONFIGS[config];
  if (!spec) throw new RangeError(`Cannot profile: unknown GPT config "${config}"`);
  const steps = options.steps ?? 1;
  const { model: cfg, batch } = spec;
  const fx = gptStepFixture(cfg, batch);
  const { trainer, x, y } = fx;
  try {
    const t = await timeMedian(() => trainer.step({ x, y }), {
      warmup: 2,
      minReps: 3,
      minMs: options.minMs ?? 300,
      maxReps: 50,
    });
    const t0 = performance.now();
    const info = await tf.profile(() => {
      for (let i = 0; i < steps; i++) trainer.step({ x, y });
    });
    const profiledStepMs = (performance.now() - t0) / steps;
    const kernels = aggregateKernels(info.kernels, steps);
    const counted = kernels.filter((k) => !k.wrapper);
    const kernelMs = counted.reduce((s, k) => s + k.ms, 0);
    return {
      backend: backend.name,
      threads: backend.threads,
      ...(threadingOf(backend) ? { threading: threadingOf(backend) } : {}),
      config,
      stepMs: t.medianMs,
      profiledStepMs,
      kernelMs,
      overheadMs: profiledStepMs - kernelMs,
      kernelCalls: counted.reduce((s, k) => s + k.calls, 0),
      kernels,
    };
  } finally {
    fx.dispose();
  }
}

const fixed = (v: number) => v.toFixed(v < 10 ? 2 : 1);

/** The profile as a table: the `top` slowest kernels, the rest as one "(N other kernels)" row, then totals. */
export function formatProfile(p: StepProfile, top = 20): string {
  const table = new Table({
    head: ["kernel", "ms/step", "calls", "share"],
    style: { head: [], border: [] },
    colAligns: ["left", "right", "right", "right"],
  });
  const counted = p.kernels.filter((k) => !k.wrapper);
  const shown = counted.slice(0, top), rest = counted.slice(top);
  for (const k of shown) table.push([k.name, fixed(k.ms), k.calls, `${(k.share * 100).toFixed(1)}%`]);
  if (rest.length > 0) {
    const ms = rest.reduce((s, k) => s + k.ms, 0), calls = rest.reduce((s, k) => s + k.calls, 0);
    const share = rest.reduce((s, k) => s + k.share, 0);
    table.push([`(${rest.length} other kernels)`, fixed(ms), calls, `${(share * 100).toFixed(1)}%`]);
  }
  table.push(["all kernels", fixed(p.kernelMs), p.kernelCalls, "100.0%"]);
  table.push(["non-kernel overhead", fixed(p.overheadMs), "", ""]);
  table.push(["step (profiled)", fixed(p.profiledStepMs), "", ""]);
  table.push(["step (unprofiled median)", fixed(p.stepMs), "", ""]);
  for (const k of p.kernels.filter((k) => k.wrapper)) {
    table.push([`${k.name} (op wrapper, included above)`, fixed(k.ms), k.calls, ""]);
  }
  return `${p.backend} x${p.threads}${p.threading ? ` (${p.threading})` : ""} ${p.config}: ${
    fixed(p.stepMs)
  } ms/step unprofiled, ` +
    `${fixed(p.profiledStepMs)} profiled\n${table.toString()}`;
}

/** Kernels that are matrix products (tfjs's own, and memtrain's causal, deferred and streamed ones). */
export const MATMUL_KERNEL = /MatMul|QkvGrad/;

/** One row of `profile.json`'s `rows`: a kernel's, or a summary's (its name in parentheses), time per step. */
export interface ProfileRow {
  [key: string]: string | number | undefined;
  backend: string;
  threads: number;
  /** For blas with more than one thread: whose threads split the matmuls (as in {@linkcode StepProfile}). */
  threading?: Threading;
  config: string;
  /** Kernel name, or `(matmuls)`, `(all kernels)`, `(outside kernels)`. */
  kernel: string;
  /** Milliseconds per profiled step. */
  ms: number;
  /** Share of the profiled step's wall time, in percent. */
  stepSharePct: number;
  calls: number;
}

/**
 * The rows `bench --profile --out DIR` writes (what `deno task report` tabulates): per profile the matmul kernels'
 * sum, all kernels' sum, the time outside kernels, then the `top` slowest kernels, each as ms and share of the
 * profiled step (wrappers left out: their time is in the kernels they run).
 *
 * @example Usage
 * ```ts
 * import { profileRows } from "./profile.ts";
 * const p = {
 *   backend: "wasm", threads: 1, config: "tiny", stepMs: 9, profiledStepMs: 10, kernelMs: 8, overheadMs: 2,
 *   kernelCalls: 3, kernels: [{ name: "BatchMatMul", ms: 6, calls: 2, share: 0.75 }, { name: "Add", ms: 2, calls: 1, share: 0.25 }],
 * };
 * console.log(profileRows(p, 1)[0]); // { ..., kernel: "(matmuls)", ms: 6, stepSharePct: 60, calls: 2 }
 * ```
 */
export function profileRows(p: StepProfile, top = 20): ProfileRow[] {
  const at = {
    backend: p.backend,
    threads: p.threads,
    ...(p.threading ? { threading: p.threading } : {}),
    config: p.config,
  };
  const pct = (ms: number) => 100 * ms / p.profiledStepMs;
  const real = p.kernels.filter((k) => !k.wrapper);
  const mm = real.filter((k) => MATMUL_KERNEL.test(k.name));
  const mmMs = mm.reduce((s, k) => s + k.ms, 0);
  const row = (kernel: string, ms: number, calls: number): ProfileRow => ({
    ...at,
    kernel,
    ms,
    stepSharePct: pct(ms),
    calls,
  });
  return [
    row("(matmuls)", mmMs, mm.reduce((s, k) => s + k.calls, 0)),
    row("(all kernels)", p.kernelMs, p.kernelCalls),
    row("(outside kernels)", p.overheadMs, 0),
    ...real.slice(0, top).map((k) => row(k.name, k.ms, k.calls)),
  ];
}
