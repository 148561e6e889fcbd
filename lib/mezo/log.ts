/**
 * The run log: a MeZO run is reproducible from its initial parameters, the per-step seeds and the scalars gₜ (the
 * paper's storage trick, §2.1: a few bytes per step instead of a checkpoint). {@linkcode replayMezo} rebuilds the
 * parameters after any prefix of the run, bit for bit.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Params } from "../nn/params.ts";
import type { NoiseKind } from "./noise.ts";
import { updateTensor } from "./update.ts";

/** What a run's updates depend on besides the per-step numbers. */
export interface MezoLogConfig {
  /** The updated parameters, in update order. */
  readonly names: readonly string[];
  /** Those of `names` that get weight decay. */
  readonly decayed: readonly string[];
  /** Weight decay coefficient. */
  readonly weightDecay: number;
  /** Estimates per step (n-SPSA). */
  readonly n: number;
  /** Perturbation scale ε (not needed to replay; kept for the record). */
  readonly eps: number;
  /** The distribution of z. */
  readonly noise: NoiseKind;
}

/** One logged step. */
export interface MezoLogStep {
  /** The n seeds of the step's directions. */
  readonly seeds: readonly number[];
  /** The n projected gradients `(ℓ₊ − ℓ₋)/(2ε)`, as float32 values (the update uses these). */
  readonly g: readonly number[];
  /** The step's learning rate. */
  readonly lr: number;
}

/** The JSON form of a {@linkcode MezoLog}: the config plus base64 arrays. */
export interface MezoLogJson {
  /** Format version. */
  version: 1;
  /** The config, or null before the run started. */
  config: MezoLogConfig | null;
  /** Number of steps. */
  steps: number;
  /** uint32 seeds, n per step, base64. */
  seeds: string;
  /** float32 projected gradients, n per step, base64. */
  g: string;
  /** The learning rate if it was the same every step, else float64 per step, base64. */
  lr: number | string;
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A MeZO run's log: filled by the step (`mezo({ log })`), one entry per step. Its JSON is 8 bytes per estimate
 * (a uint32 seed and a float32 g) plus the learning rate once when it is constant.
 *
 * @example Record, serialize, restore
 * ```ts
 * import { MezoLog } from "./log.ts";
 * import assert from "node:assert/strict";
 *
 * const log = new MezoLog();
 * log.begin({ names: ["w"], decayed: [], weightDecay: 0, n: 1, eps: 1e-3, noise: "gaussian" });
 * log.record({ seeds: [12], g: [Math.fround(0.5)], lr: 1e-4 });
 * const back = MezoLog.fromJSON(JSON.parse(JSON.stringify(log.toJSON())));
 * assert.deepEqual(back.step(0), log.step(0));
 * ```
 */
export class MezoLog {
  #config: MezoLogConfig | null = null;
  #seeds: number[] = [];
  #g: number[] = [];
  #lr: number[] = [];

  /** The run's config (null before {@linkcode MezoLog.begin}). */
  get config(): MezoLogConfig | null {
    return this.#config;
  }

  /** Steps logged. */
  get length(): number {
    return this.#lr.length;
  }

  /** Starts a run: sets the config and clears any steps logged before. */
  begin(config: MezoLogConfig): void {
    this.#config = Object.freeze({ ...config, names: [...config.names], decayed: [...config.decayed] });
    this.#seeds = [];
    this.#g = [];
    this.#lr = [];
  }

  /** Appends one step. @throws {RangeError} when the run has not begun or the step has the wrong number of estimates. */
  record(step: MezoLogStep): void {
    const n = this.#config?.n;
    if (n === undefined) throw new RangeError("Cannot record a MeZO step: the log has no run (call begin first)");
    if (step.seeds.length !== n || step.g.length !== n) {
      throw new RangeError(
        `Cannot record a MeZO step: it must have ${n} seeds and g values: current lengths are ` +
          `${step.seeds.length} and ${step.g.length}`,
      );
    }
    this.#seeds.push(...step.seeds.map((s) => s >>> 0));
    this.#g.push(...step.g.map(Math.fround));
    this.#lr.push(step.lr);
  }

  /** Step `i`. */
  step(i: number): MezoLogStep {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`Cannot read MeZO log step: 'i' must be in [0, ${this.length}): current value is ${i}`);
    }
    const n = this.#config!.n;
    return { seeds: this.#seeds.slice(i * n, (i + 1) * n), g: this.#g.slice(i * n, (i + 1) * n), lr: this.#lr[i] };
  }

  /** The JSON form (see {@linkcode MezoLogJson}). */
  toJSON(): MezoLogJson {
    const constant = this.#lr.length > 0 && this.#lr.every((v) => v === this.#lr[0]);
    return {
      version: 1,
      config: this.#config,
      steps: this.length,
      seeds: toBase64(new Uint8Array(Uint32Array.from(this.#seeds).buffer)),
      g: toBase64(new Uint8Array(Float32Array.from(this.#g).buffer)),
      lr: constant ? this.#lr[0] : toBase64(new Uint8Array(Float64Array.from(this.#lr).buffer)),
    };
  }

  /** Restores a log from {@linkcode MezoLog.toJSON}'s output. @throws {TypeError} for a malformed object. */
  static fromJSON(json: MezoLogJson): MezoLog {
    if (json?.version !== 1 || typeof json.steps !== "number") {
      throw new TypeError(`Cannot read a MeZO log: expected version 1: current value is ${JSON.stringify(json)}`);
    }
    const log = new MezoLog();
    if (json.config === null) return log;
    log.begin(json.config);
    const seeds = new Uint32Array(fromBase64(json.seeds).buffer);
    const g = new Float32Array(fromBase64(json.g).buffer);
    const lr = typeof json.lr === "number"
      ? new Array(json.steps).fill(json.lr)
      : Array.from(new Float64Array(fromBase64(json.lr).buffer));
    const n = json.config.n;
    if (seeds.length !== n * json.steps || g.length !== n * json.steps || lr.length !== json.steps) {
      throw new TypeError(`Cannot read a MeZO log: the arrays do not hold ${json.steps} steps of ${n} estimates`);
    }
    for (let i = 0; i < json.steps; i++) {
      log.record({
        seeds: Array.from(seeds.subarray(i * n, (i + 1) * n)),
        g: Array.from(g.subarray(i * n, (i + 1) * n)),
        lr: lr[i],
      });
    }
    return log;
  }
}

/**
 * The parameters after the first `steps` logged steps (default: all) of a run that started from `initial`: each
 * logged parameter is updated step by step exactly as the run did (same op, same coefficients), so the result equals
 * the run's parameters bit for bit. Returns a new map: the logged parameters are new tensors (the caller owns them),
 * the others are `initial`'s tensors. `initial` is not disposed.
 *
 * @example Usage
 * ```ts ignore
 * const log = new MezoLog();
 * const trainer = new Trainer(model, { step: mezo({ lr: 1e-4, log }) });
 * // ... steps ...
 * const params = replayMezo(log, initialParams); // = model.params, bitwise
 * ```
 * @throws {RangeError} when the log has no run, `steps` is out of range, or `initial` lacks a logged parameter.
 */
export function replayMezo(log: MezoLog, initial: Params, options: { steps?: number } = {}): Params {
  const config = log.config;
  if (config === null) throw new RangeError("Cannot replay a MeZO run: the log has no run");
  const steps = options.steps ?? log.length;
  if (!Number.isInteger(steps) || steps < 0 || steps > log.length) {
    throw new RangeError(`Cannot replay a MeZO run: 'steps' must be in [0, ${log.length}]: current value is ${steps}`);
  }
  const missing = config.names.find((k) => !Object.hasOwn(initial, k));
  if (missing !== undefined) {
    throw new RangeError(`Cannot replay a MeZO run: the initial parameters have no "${missing}"`);
  }
  const decayed = new Set(config.decayed);
  const out: Params = { ...initial };
  const entries = Array.from({ length: steps }, (_, i) => log.step(i));
  for (const name of config.names) {
    const wd = decayed.has(name) ? config.weightDecay : 0;
    let t: tf.Tensor = initial[name];
    for (const s of entries) {
      const next = updateTensor(t, name, { lr: s.lr, wd, g: s.g, seeds: s.seeds, noise: config.noise });
      if (t !== initial[name]) t.dispose();
      t = next;
    }
    out[name] = t === initial[name] ? t.clone() : t;
  }
  return out;
}
