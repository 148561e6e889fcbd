/**
 * Mesa as an {@linkcode ActivationPolicy}: the forward runs exactly; each saved float32 tensor is held as 1 byte per
 * element (a `bool` tensor) plus a float32 α and β per group, and is dequantized when backward loads it.
 *
 * References: Pan et al., "Mesa: A Memory-saving Training Framework for Transformers", arXiv:2111.11124.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type ActivationPolicy, type SavedInfo, savedRng } from "../nn/policy.ts";
import {
  dequantize,
  type Grouping,
  type GroupLayout,
  groupLayout,
  groupMinMax,
  quantizeBytes,
  type Rounding,
} from "./quantize.ts";
import { MesaState } from "./state.ts";

/** Options for {@linkcode mesaPolicy}. */
export interface MesaPolicyOptions {
  /** How tensors are split into quantization groups (see {@linkcode Grouping}). @default {"per-tensor"} */
  grouping?: Grouping;
  /** Stochastic rounding (Mesa's, unbiased) or round to nearest. @default {"stochastic"} */
  rounding?: Rounding;
  /** EMA decay λ of the running ranges, in [0, 1); 0 uses each batch's own min/max. @default {0.9} */
  emaDecay?: number;
  /**
   * Base seed of the rounding noise. Each packed tensor's noise is drawn from this seed, the pass's `{ step, seed }`
   * key and the tag (`savedRng`), so replaying a pass (a checkpoint recompute, a resumed run) repeats its codes.
   * @default {0}
   */
  seed?: number;
  /**
   * What happens to values of the current batch outside the running range. `"clamp"` (Mesa's rule, with the upper
   * clamp the CUDA kernel lacks) quantizes with the EMA range and clamps values beyond it to codes 0 and 255.
   * `"expand"` widens this batch's range to also cover the batch's own min/max (the EMA itself is not changed), so
   * nothing is clamped; it costs nothing extra since the batch min/max are computed for the EMA anyway.
   * The default is `"expand"` because clamping biased GPT-small training: +6.1% validation loss after 400 steps with
   * clamp vs −0.06% with per-batch ranges (README, "Mesa"); its residual-stream LayerNorm inputs reach beyond their
   * running range by 7-8% of it on average and up to 140% (`deno task experiment mesa-ranges`). With `emaDecay: 0` the
   * two are the same.
   * @default {"expand"}
   */
  outOfRange?: OutOfRange;
}

/** How Mesa treats values outside the running range: clamp them, or widen the range for the batch. */
export type OutOfRange = "clamp" | "expand";

/** How one saved tensor is held: what {@linkcode MesaPolicy.pack} returns. */
export interface MesaPacked {
  /** The codes, one byte per element (`bool` dtype). */
  bytes: tf.Tensor;
  /** Range α per group `[G]` used for this batch. */
  alpha: tf.Tensor1D;
  /** Minimum β per group `[G]` used for this batch. */
  beta: tf.Tensor1D;
  /** Shape of the original tensor. */
  shape: number[];
  /** Group layout of the original tensor. */
  layout: GroupLayout;
}

/** The Mesa policy plus its running state. */
export interface MesaPolicy extends ActivationPolicy<MesaPacked> {
  /** Running ranges per tag and the noise counter. */
  readonly state: MesaState;
  /** Options in effect. */
  readonly options: Readonly<Required<MesaPolicyOptions>>;
}

/**
 * A grouping's readable name: `"per-tensor"`, `"head-wise"` or `"groups(G)"`.
 *
 * @example Usage
 * ```ts
 * import { groupingName } from "./policy.ts";
 * groupingName({ groups: 8 }); // "groups(8)"
 * ```
 */
export function groupingName(grouping: Grouping): string {
  return typeof grouping === "string" ? grouping : `groups(${grouping.groups})`;
}

function show(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : typeof v === "object" && v !== null
    ? JSON.stringify(v)
    : String(v);
}

/**
 * Validates Mesa options and fills in defaults; errors are std-style and name `fn`, the option and its value.
 *
 * @example Usage
 * ```ts
 * import { resolveMesaOptions } from "./policy.ts";
 * resolveMesaOptions("mesa policy", {}).emaDecay; // 0.9
 * // resolveMesaOptions("mesa policy", { emaDecay: 2 }) throws RangeError:
 * //   "Cannot create mesa policy: 'emaDecay' must be in [0, 1): current value is 2"
 * ```
 * @throws {RangeError | TypeError} on a bad option.
 */
export function resolveMesaOptions(fn: string, o: MesaPolicyOptions): Required<MesaPolicyOptions> {
  const grouping = o.grouping ?? "per-tensor";
  if (typeof grouping === "object" && grouping !== null && "groups" in grouping) {
    const g = grouping.groups;
    if (!(Number.isInteger(g) && g >= 1)) {
      throw new RangeError(
        `Cannot create ${fn}: 'grouping.groups' must be a positive integer: current value is ${show(g)}`,
      );
    }
  } else if (grouping !== "per-tensor" && grouping !== "head-wise") {
    throw new TypeError(
      `Cannot create ${fn}: 'grouping' must be "per-tensor", "head-wise" or { groups: number }: current value is ${
        show(grouping)
      }`,
    );
  }
  const rounding = o.rounding ?? "stochastic";
  if (rounding !== "stochastic" && rounding !== "nearest") {
    throw new TypeError(
      `Cannot create ${fn}: 'rounding' must be "stochastic" or "nearest": current value is ${show(rounding)}`,
    );
  }
  const emaDecay = o.emaDecay ?? 0.9;
  if (typeof emaDecay !== "number") {
    throw new TypeError(`Cannot create ${fn}: 'emaDecay' must be a number: current value is ${show(emaDecay)}`);
  }
  if (!(emaDecay >= 0 && emaDecay < 1)) {
    throw new RangeError(`Cannot create ${fn}: 'emaDecay' must be in [0, 1): current value is ${emaDecay}`);
  }
  const outOfRange = o.outOfRange ?? "expand";
  if (outOfRange !== "clamp" && outOfRange !== "expand") {
    throw new TypeError(
      `Cannot create ${fn}: 'outOfRange' must be "clamp" or "expand": current value is ${show(outOfRange)}`,
    );
  }
  const seed = o.seed ?? 0;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot create ${fn}: 'seed' must be an integer: current value is ${show(seed)}`);
  }
  const fixed = typeof grouping === "string" ? grouping : Object.freeze({ groups: grouping.groups });
  return { grouping: fixed, rounding, emaDecay, seed, outOfRange };
}

/** The running range widened to cover `[min, max]`: `β' = min(β, min)`, `α' = max(β + α, max) − β'`. */
function coverBatch(
  r: { alpha: tf.Tensor1D; beta: tf.Tensor1D },
  min: tf.Tensor1D,
  max: tf.Tensor1D,
): { alpha: tf.Tensor1D; beta: tf.Tensor1D } {
  const beta = tf.minimum(r.beta, min) as tf.Tensor1D;
  return { alpha: tf.sub(tf.maximum(tf.add(r.beta, r.alpha), max), beta) as tf.Tensor1D, beta };
}

/**
 * Creates the Mesa policy: `exact: false`; pack updates the tag's running range from the batch (before quantizing
 * it, as Mesa does; once per pass key: packing the same tag again with the same `{ step, seed }` is a replay and
 * reuses that pass's range), quantizes with that range (widened to cover the batch with `outOfRange: "expand"`, the
 * default) and keeps the bytes; unpack dequantizes. Only float32 tensors can be packed. Dispose the running ranges
 * with `policy.state.dispose()`.
 *
 * Bytes held per tensor: one per element plus 8 per group (float32 α and β); {@linkcode MesaPolicy.predictBytes}
 * gives the same number from the shape.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mesaPolicy } from "./policy.ts";
 * const policy = mesaPolicy({ grouping: "head-wise" });
 * const info = { tag: "blocks.0.attn.q", role: "attn.q", groupAxis: 1 };
 * const q = tf.randomNormal([2, 4, 8, 16]);
 * const packed = policy.pack(q, info);
 * policy.bytes(packed); // 1024 codes + 4 heads · 8 = 1056
 * const qHat = policy.unpack(packed, info); // ≈ q, error < Δ = α/255 per head
 * policy.dispose(packed);
 * policy.state.dispose();
 * ```
 * @throws {RangeError | TypeError} on bad options (the message names the option and its value).
 */
export function mesaPolicy(options: MesaPolicyOptions = {}): MesaPolicy {
  const opts = resolveMesaOptions("mesa policy", options);
  const state = new MesaState(opts.emaDecay);
  const name = `mesa(${groupingName(opts.grouping)}, ${opts.rounding})`;
  return Object.freeze({
    name,
    exact: false,
    state,
    options: Object.freeze(opts),
    pack(t: tf.Tensor, info: SavedInfo): MesaPacked {
      if (t.dtype !== "float32") {
        throw new TypeError(`Cannot quantize "${info.tag}": Mesa packs float32 tensors: current dtype is ${t.dtype}`);
      }
      const layout = groupLayout(t.shape, info.groupAxis, opts.grouping);
      let packed: MesaPacked | undefined;
      tf.tidy(() => {
        const { min, max } = groupMinMax(t, layout);
        const ema = state.update(info.tag, min, max, info);
        const { alpha, beta } = opts.outOfRange === "clamp" ? ema : coverBatch(ema, min, max);
        // The noise depends on (policy seed, pass key, tag) only: a replay of the pass draws the same codes.
        const seed = opts.rounding === "stochastic" ? savedRng(opts.seed, info).nextU32() | 0 : 0;
        packed = {
          bytes: tf.keep(quantizeBytes(t, alpha, beta, layout, { rounding: opts.rounding, seed })),
          alpha: tf.keep(alpha.clone()),
          beta: tf.keep(beta.clone()),
          shape: t.shape.slice(),
          layout,
        };
      });
      return packed!;
    },
    unpack(p: MesaPacked): tf.Tensor {
      return dequantize(p.bytes, p.alpha, p.beta, p.layout, p.shape);
    },
    bytes(p: MesaPacked): number {
      return p.bytes.size + 4 * (p.alpha.size + p.beta.size);
    },
    predictBytes(shape: readonly number[], _dtype: tf.DataType, info: SavedInfo): number {
      const n = shape.reduce((a, b) => a * b, 1);
      return n + 8 * groupLayout(shape, info.groupAxis, opts.grouping).groups;
    },
    dispose(p: MesaPacked): void {
      p.bytes.dispose();
      p.alpha.dispose();
      p.beta.dispose();
    },
  });
}
