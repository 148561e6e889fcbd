/**
 * `wtacrs(options)`: the WTA-CRS selector for `backprop({ selector })`, placed as the paper's "level 2" (attention
 * output projection and both MLP linears sampled; the qkv input, shared by q, k and v, and the output head kept),
 * with a per-layer opt-out and an `inner` policy for the kept rows.
 *
 * References: Liu, Wang et al., "Winner-Take-All Column Row Sampling for Memory Efficient Adaptation of Language
 * Model", NeurIPS 2023, arXiv:2305.15265 (placement: the repository's `level_setup.sh`, level 2).
 * @module
 */
import { type ActivationPolicy, keepAll, type PolicySelector, type SavedInfo } from "../nn/policy.ts";
import { GradNormCache } from "./norm_cache.ts";
import { resolveWtacrsOptions, type WtacrsPolicy, wtacrsPolicy, type WtacrsPolicyOptions } from "./policy.ts";

const LEVEL2 = /(?:^|\.)blocks\.\d+\.(?:attn\.proj|mlp\.fc1|mlp\.fc2)\.input$/;

/**
 * The paper's "level 2" placement: the `linear.input` of every block's attention output projection
 * (`blocks.N.attn.proj.input`) and MLP linears (`blocks.N.mlp.fc1.input`, `blocks.N.mlp.fc2.input`). The qkv input and
 * the output head (`head.out.input`, a plain `nn.Linear` in the original T5 too) are not placed.
 *
 * @example Usage
 * ```ts
 * import { wtacrsLevel2 } from "./select.ts";
 * wtacrsLevel2({ tag: "blocks.3.mlp.fc2.input", role: "linear.input" }); // true
 * wtacrsLevel2({ tag: "blocks.3.attn.qkv.input", role: "linear.input" }); // false
 * wtacrsLevel2({ tag: "head.out.input", role: "linear.input" }); // false
 * ```
 */
export function wtacrsLevel2(info: SavedInfo): boolean {
  return info.role === "linear.input" && LEVEL2.test(info.tag);
}

/** Options for {@linkcode wtacrs}. */
export interface WtacrsOptions extends WtacrsPolicyOptions {
  /** Which saved tensors are sampled (they must be `linear.input`). @default {wtacrsLevel2} */
  placement?: (info: SavedInfo) => boolean;
  /** Per-layer opt-out: placed tensors for which this returns true are left to the fallback (kept). */
  exclude?: (info: SavedInfo) => boolean;
}

/** What {@linkcode wtacrs} returns. */
export interface Wtacrs {
  /** Samples the placed tensors (rows held by `options.inner`, default keep) and keeps everything else. */
  readonly selector: PolicySelector;
  /**
   * The selector around another one: placed tensors are sampled and their rows packed with the policy `rest` picks
   * for them (e.g. Mesa's 8-bit policy); every other tensor gets `rest`'s policy.
   */
  wrap(rest: PolicySelector): PolicySelector;
  /** The policy with `options.inner` (the one {@linkcode Wtacrs.selector} uses). */
  readonly policy: WtacrsPolicy;
  /** The gradient-norm cache all its policies share. */
  readonly cache: GradNormCache;
  /** Frees the cache. */
  dispose(): void;
}

/**
 * WTA-CRS on a model's Linear layers (see {@linkcode wtacrsPolicy} for the estimator and the sampling weights).
 *
 * @example Usage
 * ```ts
 * import { wtacrs } from "./select.ts";
 * import { keepAll } from "../nn/policy.ts";
 * const w = wtacrs({ ratio: 0.3 });
 * w.selector({ tag: "blocks.0.mlp.fc1.input", role: "linear.input" }).name; // "wta-crs(0.3)"
 * w.selector({ tag: "blocks.0.attn.qkv.input", role: "linear.input" }).name; // "keep"
 * w.wrap(keepAll)({ tag: "blocks.0.attn.proj.input", role: "linear.input" }).name; // "wta-crs(0.3)"
 * // backprop({ selector: w.selector }) ... then:
 * w.dispose();
 * ```
 * @throws {RangeError | TypeError} on bad options (the message names the option and its value).
 */
export function wtacrs(options: WtacrsOptions = {}): Wtacrs {
  const resolved = resolveWtacrsOptions("wtacrs policy", options);
  const placement = options.placement ?? wtacrsLevel2;
  const exclude = options.exclude;
  if (typeof placement !== "function") {
    throw new TypeError(
      `Cannot create wtacrs policy: 'placement' must be a function: current value is ${String(placement)}`,
    );
  }
  if (exclude !== undefined && typeof exclude !== "function") {
    throw new TypeError(
      `Cannot create wtacrs policy: 'exclude' must be a function: current value is ${String(exclude)}`,
    );
  }
  const cache = options.cache ?? new GradNormCache();
  const policies = new Map<ActivationPolicy, WtacrsPolicy>();
  const policyFor = (inner: ActivationPolicy): WtacrsPolicy => {
    let p = policies.get(inner);
    if (!p) policies.set(inner, p = wtacrsPolicy({ ...resolved, inner, cache }));
    return p;
  };
  const policy = policyFor(resolved.inner);
  const placed = (info: SavedInfo) => placement(info) && !exclude?.(info);
  const wrap = (rest: PolicySelector): PolicySelector => (info) => placed(info) ? policyFor(rest(info)) : rest(info);
  const selector: PolicySelector = (info) => placed(info) ? policy : keepAll(info);
  return Object.freeze({ selector, wrap, policy, cache, dispose: () => cache.dispose() });
}
