/**
 * `mesa(options)`: the Mesa selector for `backprop({ selector })`, with per-role and per-layer opt-outs.
 *
 * References: Pan et al., "Mesa: A Memory-saving Training Framework for Transformers", arXiv:2111.11124.
 * @module
 */
import { keepPolicy, type PolicySelector, type SavedInfo, type SavedRole } from "../nn/policy.ts";
import { type MesaPolicy, mesaPolicy, type MesaPolicyOptions, resolveMesaOptions } from "./policy.ts";
import type { MesaState } from "./state.ts";

/**
 * Roles Mesa quantizes by default: every Linear, GELU and LayerNorm input, q/k/v and the softmax output (the DeiT
 * 8-bit policy's fc, gelu, layernorm, matmul and softmax). LayerNorm mean/rstd, embedding ids and the loss's
 * probabilities and targets stay exact.
 *
 * @example Usage
 * ```ts
 * import { mesa, MESA_DEFAULT_ROLES } from "./select.ts";
 * const m = mesa({ roles: MESA_DEFAULT_ROLES.filter((r) => r !== "softmax.output") }); // keep attention maps exact
 * m.dispose();
 * ```
 */
export const MESA_DEFAULT_ROLES: readonly SavedRole[] = Object.freeze([
  "linear.input",
  "gelu.input",
  "softmax.output",
  "attn.q",
  "attn.k",
  "attn.v",
  "layernorm.input",
]);

/** Options for {@linkcode mesa}. */
export interface MesaOptions extends MesaPolicyOptions {
  /** Roles to quantize; others are kept exact. @default {MESA_DEFAULT_ROLES} */
  roles?: readonly SavedRole[];
  /** Per-layer opt-out: tensors for which this returns true are kept exact (see {@linkcode mesaExcept}). */
  exclude?: (info: SavedInfo) => boolean;
}

/** What {@linkcode mesa} returns. */
export interface Mesa {
  /** Picks the Mesa policy for the chosen roles (unless excluded) and `keep` for everything else. */
  readonly selector: PolicySelector;
  /** The Mesa policy. */
  readonly policy: MesaPolicy;
  /** Its running ranges (inspect, reset, snapshot/restore). */
  readonly state: MesaState;
  /** Frees the running ranges. */
  dispose(): void;
}

/**
 * Mesa 8-bit saved activations: the forward is exact, the chosen roles are saved as 1 byte per element with EMA
 * running ranges, and backward uses the dequantized copies.
 *
 * Grouping `"head-wise"` quantizes q/k/v and attention maps `[B, H, T, ·]` with one range per head, and 2-D `[N, C]`
 * tensors (Linear/GELU/LayerNorm inputs) with 4 contiguous channel blocks (`HEADWISE_CHANNEL_GROUPS`; Mesa uses
 * `quant_groups = num_heads` everywhere, which is 4 for the memtrain presets). `{ groups: G }` uses G blocks along
 * every tensor's group axis.
 *
 * The running ranges update each time a tensor is packed: once per training forward that saves through the selector
 * (so once per micro-batch), including a checkpointed segment's recompute.
 *
 * @example Usage
 * ```ts
 * import { mesa, mesaExcept } from "./select.ts";
 * const m = mesa({ grouping: "head-wise", exclude: mesaExcept(["blocks.0", "head"]) });
 * m.selector({ tag: "blocks.1.mlp.fc1.input", role: "linear.input", groupAxis: 1 }).name; // "mesa(head-wise, stochastic)"
 * m.selector({ tag: "blocks.0.mlp.fc1.input", role: "linear.input", groupAxis: 1 }).name; // "keep"
 * m.selector({ tag: "blocks.1.ln1.mean", role: "layernorm.stats" }).name; // "keep"
 * // backprop({ selector: m.selector }).lossAndGrads(model, batch); ... m.dispose();
 * m.dispose();
 * ```
 * @throws {RangeError | TypeError} on bad options (the message names the option and its value).
 */
export function mesa(options: MesaOptions = {}): Mesa {
  resolveMesaOptions("mesa policy", options);
  const roles = options.roles ?? MESA_DEFAULT_ROLES;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string")) {
    throw new TypeError(
      `Cannot create mesa policy: 'roles' must be an array of role names: current value is ${String(roles)}`,
    );
  }
  const exclude = options.exclude;
  if (exclude !== undefined && typeof exclude !== "function") {
    throw new TypeError(`Cannot create mesa policy: 'exclude' must be a function: current value is ${String(exclude)}`);
  }
  const policy = mesaPolicy(options);
  const wanted = new Set<string>(roles);
  const selector: PolicySelector = (info) => wanted.has(info.role) && !exclude?.(info) ? policy : keepPolicy;
  return Object.freeze({ selector, policy, state: policy.state, dispose: () => policy.state.dispose() });
}

/**
 * An `exclude` predicate for {@linkcode mesa} that keeps every tensor under the given layer paths exact:
 * `"blocks.0"` matches `"blocks.0.attn.q"` but not `"blocks.01.attn.q"`. Keeping the first and last layers exact is a
 * common precaution with low-bit activations.
 *
 * @example Usage
 * ```ts
 * import { mesaExcept } from "./select.ts";
 * const skip = mesaExcept(["blocks.0", "head"]);
 * skip({ tag: "head.out.input", role: "linear.input" }); // true
 * skip({ tag: "blocks.1.ln1.input", role: "layernorm.input" }); // false
 * ```
 * @throws {TypeError} when `prefixes` is not an array of non-empty strings.
 */
export function mesaExcept(prefixes: readonly string[]): (info: SavedInfo) => boolean {
  if (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === "string" && p.length > 0)) {
    throw new TypeError(
      `Cannot create mesaExcept: 'prefixes' must be an array of non-empty strings: current value is ${
        JSON.stringify(prefixes)
      }`,
    );
  }
  const heads = prefixes.map((p) => (p.endsWith(".") ? p : `${p}.`));
  return (info) => prefixes.includes(info.tag) || heads.some((h) => info.tag.startsWith(h));
}
