/**
 * The MeZO training step (Malladi et al., "Fine-Tuning Language Models with Just Forward Passes", arXiv:2305.17333,
 * Algorithm 1), as a `TrainStep`: two forward passes at `θ ± ε·z` and one update per step, at inference memory.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { forwardLoss, inferLogits } from "../nn/forward.ts";
import type { PassOptions, TrainStep } from "../nn/grad_source.ts";
import type { Batch, Model } from "../nn/model.ts";
import type { Params } from "../nn/params.ts";
import type { ForwardKey } from "../nn/policy.ts";
import { mapParams, type ParamProvider, paramsProvider } from "../nn/provider.ts";
import { defaultDecayMask } from "../optim/adam.ts";
import type { Schedule } from "../optim/schedule.ts";
import { axpz } from "./kernel.ts";
import type { MezoLog } from "./log.ts";
import { noiseKey, type NoiseKind, stepSeed } from "./noise.ts";
import { type ParamSelection, selectParams } from "./select.ts";
import { updateTensor } from "./update.ts";

/**
 * What MeZO minimizes on a batch, evaluated through `pass.params` (the perturbed parameters): the loss by default
 * ({@linkcode lossObjective}), or any score, differentiable or not ({@linkcode errorRateObjective}).
 */
export type MezoObjective = (model: Model, batch: Batch, pass: PassOptions) => number;

/** The batch loss from a forward pass (`forwardLoss`), MeZO's default objective. */
export const lossObjective: MezoObjective = (model, batch, pass) => forwardLoss(model, batch, pass);

/**
 * The weighted error rate `1 − accuracy` of the argmax predictions on the batch (targets with weight 0 are ignored):
 * a non-differentiable objective, as in the paper's Table 3.
 *
 * @example Usage
 * ```ts ignore
 * const step = mezo({ lr: 1e-4, objective: errorRateObjective });
 * ```
 */
export function errorRateObjective(model: Model, batch: Batch, pass: PassOptions): number {
  const logits = inferLogits(model, batch.x, pass);
  try {
    const k = logits.shape[logits.rank - 1];
    const pred = logits.reshape([-1, k]).argMax(1);
    const p = pred.dataSync() as Int32Array;
    pred.dispose();
    const y = batch.y.dataSync() as Int32Array;
    const w = batch.weights ? batch.weights.dataSync() as Float32Array : undefined;
    let hit = 0, total = 0;
    for (let i = 0; i < y.length; i++) {
      const wi = w ? w[i] : 1;
      total += wi;
      if (p[i] === y[i]) hit += wi;
    }
    return total > 0 ? 1 - hit / total : 0;
  } finally {
    logits.dispose();
  }
}

/** Options for {@linkcode mezo}. */
export interface MezoOptions {
  /** Learning rate (constant), or a schedule of the step count. MeZO's are far below backprop's (1e-6 to 1e-4). */
  lr: number | Schedule;
  /** Perturbation scale ε > 0. @default {1e-3} */
  eps?: number;
  /** Estimates per step (n-SPSA: n pairs of forwards, the update averages the n estimates), >= 1. @default {1} */
  n?: number;
  /** Weight decay (applied inside the update, `θ ← θ − lr·(g·z + wd·θ)`), >= 0. @default {0} */
  weightDecay?: number;
  /** Which parameters get weight decay. @default {defaultDecayMask} (biases, norms and 1-D parameters get none) */
  decayMask?: (name: string, param: tf.Tensor) => boolean;
  /** The distribution of z. @default {"gaussian"} */
  noise?: NoiseKind;
  /**
   * The parameters perturbed and updated, among the model's trainable ones (`model.trainable`, e.g. LoRA adapters).
   * @default {"all"}
   */
  params?: ParamSelection;
  /** What to minimize. @default {lossObjective} */
  objective?: MezoObjective;
  /** The seed of the directions z (with the step count). @default {the pass key's seed} */
  seed?: number;
  /** A run log to fill (begun at `init`, one entry per step): the run is then replayable with `replayMezo`. */
  log?: MezoLog;
}

/** The state of a MeZO step: plain data, no tensors (MeZO keeps no optimizer state). */
export interface MezoState {
  /** Steps taken (the schedule's argument). */
  readonly count: number;
  /** The parameters MeZO perturbs and updates, in update order. */
  readonly names: readonly string[];
  /** Those that get weight decay. */
  readonly decayed: readonly string[];
  /** The projected gradients `(ℓ₊ − ℓ₋)/(2ε)` of the last step (float32 values). */
  readonly g: readonly number[];
}

/**
 * The provider of `θ + c·z(seed)` for the parameters in `names` (the others read as they are): each value is
 * computed on read, one tensor at a time, and `params` is never written, so after any number of such passes the
 * parameters are bit for bit what they were (MeZO's restore is exact by construction, in any precision).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { perturbed } from "./step.ts";
 * import assert from "node:assert/strict";
 *
 * const params = { w: tf.ones([4]) };
 * const plus = perturbed(params, ["w"], 7, 1e-3, "gaussian");
 * const w = tf.tidy(() => Array.from(plus.read("w")!.dataSync()));
 * assert.ok(w.every((v) => Math.abs(v - 1) < 1e-2 && v !== 1));
 * assert.deepEqual(Array.from(params.w.dataSync()), [1, 1, 1, 1]); // unchanged
 * params.w.dispose();
 * ```
 */
export function perturbed(
  params: Params,
  names: readonly string[],
  seed: number,
  c: number,
  noise: NoiseKind,
): ParamProvider {
  const keys = new Map(names.map((n) => [n, noiseKey(seed, n)]));
  return mapParams(paramsProvider(params), (name, theta) => {
    const key = keys.get(name);
    return key === undefined ? theta : axpz(theta, { a: 1, c, key, kind: noise });
  });
}

function positive(what: string, v: number, min: number, strict: boolean): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (strict ? !(v > min) : !(v >= min))) {
    throw new RangeError(
      `Cannot create mezo: '${what}' must be a finite number ${strict ? ">" : ">="} ${min}: current value is ${v}`,
    );
  }
  return v;
}

/**
 * MeZO as a training step: per step, for each of n estimates j, draw the seed `sⱼ` (from the run seed and the step),
 * evaluate the objective at `θ + ε·z` and `θ − ε·z` (read through a computing provider: the parameters are never
 * modified), `gⱼ = (ℓ₊ − ℓ₋)/(2ε)`; then, tensor by tensor, `θ ← (1 − lr·wd)·θ − Σⱼ (lr·gⱼ/n)·zⱼ` with each zⱼ
 * regenerated from `sⱼ` and the tensor's name. No z, no gradient and no optimizer state is ever stored: the extra
 * memory over inference is one computed parameter tensor at a time. The reported loss is the mean of ℓ₊ and ℓ₋
 * (`L(θ) + O(ε²)`). A non-finite objective throws a RangeError before anything is updated.
 *
 * @example Fine-tune a tiny GPT's head with MeZO
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mezo } from "./step.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { Trainer } from "../train/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 });
 * const trainer = new Trainer(gpt, { step: mezo({ lr: 1e-2, eps: 1e-3, params: "head" }) });
 * const batch = { x: tf.zeros([4, 8], "int32"), y: tf.ones([4, 8], "int32") };
 * const first = trainer.step(batch).loss;
 * for (let i = 0; i < 50; i++) trainer.step(batch);
 * assert.ok(trainer.step(batch).loss < first);
 * trainer.dispose();
 * ```
 * @throws {RangeError} for `eps <= 0`, `n < 1`, a negative `weightDecay` or `lr`, and (at init) a `params`
 * selection that picks no trainable parameter; {TypeError} for a malformed option.
 */
export function mezo(options: MezoOptions): TrainStep<MezoState> {
  const lr = options?.lr;
  if (typeof lr !== "function") positive("lr", lr as number, 0, false);
  const eps = positive("eps", options.eps ?? 1e-3, 0, true);
  const n = options.n ?? 1;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot create mezo: 'n' must be an integer >= 1: current value is ${n}`);
  }
  const weightDecay = positive("weightDecay", options.weightDecay ?? 0, 0, false);
  const noise = options.noise ?? "gaussian";
  if (noise !== "gaussian" && noise !== "rademacher") {
    throw new TypeError(`Cannot create mezo: 'noise' must be "gaussian" or "rademacher": current value is ${noise}`);
  }
  const decayMask = options.decayMask ?? defaultDecayMask;
  const objective = options.objective ?? lossObjective;
  const selection = options.params ?? "all";
  const seed = options.seed;
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot create mezo: 'seed' must be a safe integer: current value is ${seed}`);
  }
  const log = options.log;
  const rateAt = (count: number): number => {
    const v = typeof lr === "function" ? lr(count) : lr;
    if (typeof v !== "number" || !(Number.isFinite(v) && v >= 0)) {
      throw new RangeError(
        `Cannot take a MeZO step: the schedule must return a non-negative number: current value is ${v} at step ${count}`,
      );
    }
    return v;
  };

  return {
    name: `mezo(${noise}, n=${n})`,
    init(params: Params): MezoState {
      const names = selectParams(Object.keys(params), selection);
      const decayed = weightDecay === 0 ? [] : names.filter((k) => decayMask(k, params[k]));
      log?.begin({ names, decayed, weightDecay, n, eps, noise });
      return { count: 0, names, decayed, g: [] };
    },
    step(model: Model, batch: Batch, state: MezoState, key: ForwardKey) {
      const runSeed = seed ?? key.seed;
      const seeds = Array.from({ length: n }, (_, j) => stepSeed(runSeed, key.step, j));
      const g: number[] = [];
      let loss = 0;
      for (const s of seeds) {
        const lp = objective(model, batch, { key, params: perturbed(model.params, state.names, s, eps, noise) });
        const lm = objective(model, batch, { key, params: perturbed(model.params, state.names, s, -eps, noise) });
        if (!Number.isFinite(lp) || !Number.isFinite(lm)) {
          throw new RangeError(`Cannot take a MeZO step: the objective is ${lp} at θ+εz and ${lm} at θ−εz`);
        }
        g.push(Math.fround((lp - lm) / (2 * eps)));
        loss += (lp + lm) / (2 * n);
      }
      const rate = rateAt(state.count);
      const decayed = new Set(state.decayed);
      const params: Params = { ...model.params };
      for (const name of state.names) {
        const old = model.params[name];
        params[name] = updateTensor(old, name, { lr: rate, wd: decayed.has(name) ? weightDecay : 0, g, seeds, noise });
        old.dispose(); // now, not after the step: at most one parameter tensor is held twice
      }
      log?.record({ seeds, g, lr: rate });
      return {
        loss,
        params,
        state: { count: state.count + 1, names: state.names, decayed: state.decayed, g },
        savedBytes: 0,
        forwardBytes: 0,
      };
    },
  };
}
