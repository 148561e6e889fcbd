/**
 * Putting LoRA adapters on a model's Linear layers ({@linkcode withLora}) and merging them back into the base weights
 * for inference ({@linkcode mergeLora}).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Layer } from "../nn/layer.ts";
import { Linear } from "../nn/linear.ts";
import { type Model, trunkSavedSpecs } from "../nn/model.ts";
import type { Params } from "../nn/params.ts";
import { initParams } from "../models/init.ts";
import { checkOption, LoraLinear } from "./linear.ts";

/** Which Linear layers get adapters: path patterns, a RegExp on the path, or a predicate. */
export type LoraTargets = string | readonly string[] | RegExp | ((path: string) => boolean);

/** Options for {@linkcode withLora}. */
export interface LoraOptions {
  /**
   * The Linear layers (by path, e.g. `"blocks.0.attn.qkv"`) that get adapters. A string pattern matches a path that
   * equals it or ends with `.` + it; `*` stands for one path segment (`"blocks.*.mlp.fc1"`).
   * @default {["attn.qkv", "attn.proj"]} (every attention projection)
   */
  targets?: LoraTargets;
  /** Rank r. @default {8} */
  rank?: number;
  /** Scale numerator: updates are scaled by `alpha / rank`. @default {16} */
  alpha?: number;
  /** Init std of A. @default {1/√(3·in)} */
  aStd?: number;
  /** Seed of A's init (each adapter gets its own stream from its path). @default {0} */
  seed?: number;
  /** Base parameters trained as well (e.g. `(n) => n.startsWith("head.")`); the adapters are always trained. */
  alsoTrain?: (name: string) => boolean;
}

/** What {@linkcode withLora} records on the model it returns. */
export interface LoraInfo {
  /** Paths of the adapted Linear layers, in trunk order. */
  readonly paths: readonly string[];
  /** Rank r. */
  readonly rank: number;
  /** α. */
  readonly alpha: number;
  /** The trunk before adaptation (for {@linkcode mergeLora}). */
  readonly baseLayers: readonly Layer[];
  /** The base model's `trainable` (undefined: every parameter). */
  readonly baseTrainable?: (name: string) => boolean;
}

/** A model with LoRA adapters: its `lora` field says where they are. */
export type LoraModel<C = unknown> = Model<C> & { readonly lora: LoraInfo };

/** True when `name` is an adapter parameter (`….lora_a` or `….lora_b`). */
export function isLoraParam(name: string): boolean {
  return name.endsWith(".lora_a") || name.endsWith(".lora_b");
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^.]+");
  return new RegExp(`(^|\\.)${body}$`);
}

/** The predicate of a {@linkcode LoraTargets} value. */
export function targetMatcher(targets: LoraTargets): (path: string) => boolean {
  if (typeof targets === "function") return targets;
  if (targets instanceof RegExp) return (p) => targets.test(p);
  const list = typeof targets === "string" ? [targets] : targets;
  if (!Array.isArray(list) || list.some((t) => typeof t !== "string" || t === "")) {
    throw new TypeError(
      `Cannot add LoRA adapters: 'targets' must be path patterns, a RegExp or a predicate: current value is ` +
        JSON.stringify(targets),
    );
  }
  const res = list.map(globToRegExp);
  return (p) => res.some((r) => r.test(p));
}

function isLayer(v: unknown): v is Layer {
  const l = v as Partial<Layer> | null;
  return l !== null && typeof l === "object" && typeof l.forward === "function" &&
    typeof l.backward === "function" && typeof l.paramSpecs === "function" && typeof l.name === "string";
}

const join = (path: string, name: string) => (path === "" ? name : name === "" ? path : `${path}.${name}`);

/**
 * `layer` with every Linear `f` replaces swapped, at any depth. A layer's children are its own fields holding a layer
 * or an array of layers (every lib/nn composite); a layer with a replaced child is copied (same prototype, fields
 * copied, the child swapped), never modified. `path` is the layer's full path; a child's is `path.child.name`.
 */
function replaceLinears(layer: Layer, path: string, f: (l: Linear, path: string) => Layer | undefined): Layer {
  if (layer instanceof Linear) return f(layer, path) ?? layer;
  const swapped: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(layer)) {
    if (isLayer(v)) {
      const nv = replaceLinears(v, join(path, v.name), f);
      if (nv !== v) swapped[key] = nv;
    } else if (Array.isArray(v) && v.length > 0 && v.every(isLayer)) {
      const nv = v.map((c: Layer) => replaceLinears(c, join(path, c.name), f));
      if (nv.some((c, i) => c !== v[i])) swapped[key] = nv;
    }
  }
  if (Object.keys(swapped).length === 0) return layer;
  return Object.assign(Object.create(Object.getPrototypeOf(layer)), layer, swapped) as Layer;
}

/**
 * A copy of `model` with LoRA adapters on the Linear layers `targets` selects: each becomes a {@linkcode LoraLinear}
 * (same path; new parameters `<path>.lora_a`, `<path>.lora_b`, B = 0 so the model computes exactly what the base
 * does), and only the adapters are trainable (`model.trainable`, plus `alsoTrain`): backprop gives no gradient to the
 * base weights and their Linears save no input for one, the Trainer keeps no optimizer state for them, and MeZO
 * perturbs only the adapters. The base model is not modified; the new model's `params` holds the base's tensors
 * (shared: dispose them once) and the new adapter tensors.
 *
 * @example LoRA on a tiny GPT's attention, trained with Adam
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { withLora } from "./adapt.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import { inferLogits, trainableParams } from "../nn/mod.ts";
 * import { adam } from "../optim/mod.ts";
 * import { Trainer } from "../train/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 });
 * const lora = withLora(gpt, { rank: 4, targets: ["attn.qkv"] });
 * assert.deepEqual(lora.lora.paths, ["blocks.0.attn.qkv", "blocks.1.attn.qkv"]);
 * assert.equal(Object.keys(trainableParams(lora)).length, 4); // two A's and two B's
 * const x = tf.zeros([2, 8], "int32");
 * const same = tf.tidy(() => tf.max(tf.abs(tf.sub(inferLogits(gpt, x), inferLogits(lora, x)))).dataSync()[0]);
 * assert.equal(same, 0); // B = 0
 * const trainer = new Trainer(lora, { optimizer: adam({ lr: 1e-2 }) });
 * trainer.step({ x, y: tf.ones([2, 8], "int32") });
 * trainer.dispose();
 * ```
 * @throws {RangeError} when the targets select no Linear layer, or for a bad rank/alpha/aStd; {TypeError} for
 * malformed targets or a model that already has adapters.
 */
export function withLora<C>(model: Model<C>, options: LoraOptions = {}): LoraModel<C> {
  if ((model as Partial<LoraModel>).lora !== undefined) {
    throw new TypeError("Cannot add LoRA adapters: the model already has adapters (merge them first with mergeLora)");
  }
  const targets = options.targets ?? ["attn.qkv", "attn.proj"];
  const match = targetMatcher(targets);
  const rank = options.rank ?? 8, alpha = options.alpha ?? 16;
  const paths: string[] = [];
  const adapted: LoraLinear[] = [];
  const layers = model.layers.map((l) =>
    replaceLinears(l, l.name, (linear, path) => {
      if (!match(path)) return undefined;
      const shape = model.params[`${path}.w`]?.shape;
      if (!shape || shape[0] !== linear.inDim || shape[1] !== linear.outDim) {
        throw new TypeError(
          `Cannot add LoRA adapters: the Linear found at "${path}" has no parameter "${path}.w" of shape ` +
            `[${linear.inDim}, ${linear.outDim}] (a layer does not keep its children in fields named by their path)`,
        );
      }
      const lora = new LoraLinear(linear, {
        rank,
        alpha,
        ...(options.aStd === undefined ? {} : { aStd: options.aStd }),
      });
      paths.push(path);
      adapted.push(lora);
      return lora;
    })
  );
  if (paths.length === 0) {
    throw new RangeError(
      `Cannot add LoRA adapters: 'targets' selects no Linear layer of the model: current value is ${
        typeof targets === "function" ? "a predicate" : String(targets)
      }`,
    );
  }
  const seed = options.seed ?? 0;
  checkOption("LoRA adapters", "seed", seed, Number.isSafeInteger(seed), "a safe integer");
  const specs = adapted.flatMap((l, i) =>
    l.paramSpecs().filter((s) => s.name.startsWith("lora_")).map((s) => ({ ...s, name: `${paths[i]}.${s.name}` }))
  );
  const adapters = initParams(specs, seed);
  const also = options.alsoTrain;
  const baseTrainable = model.trainable;
  const loss = model.loss;
  return {
    ...model,
    layers,
    params: { ...model.params, ...adapters },
    trainable: (name) => isLoraParam(name) || (also !== undefined && also(name)),
    savedSpecs: (inputShape, weighted = false) => trunkSavedSpecs(layers, loss, inputShape, weighted),
    lora: Object.freeze({
      paths: Object.freeze(paths.slice()),
      rank,
      alpha,
      baseLayers: Object.freeze(model.layers.slice()),
      ...(baseTrainable ? { baseTrainable } : {}),
    }),
  };
}

/**
 * The model for inference: each adapted Linear's weight becomes `W + (α/r)·A·B` (a new tensor), the adapters are
 * dropped, and the trunk is the base's again. Other parameter tensors are shared with `model` (dispose the merged
 * weights, or the LoRA model's params, not both). Its outputs equal the LoRA model's up to float32 rounding.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { mergeLora, withLora } from "./adapt.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const lora = withLora(createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }), { rank: 2 });
 * const merged = mergeLora(lora);
 * assert.ok(!Object.keys(merged.params).some((k) => k.includes("lora_")));
 * assert.equal(merged.params["embed.wte"], lora.params["embed.wte"]); // shared
 * ```
 */
export function mergeLora<C>(model: LoraModel<C>): Model<C> {
  const info = model.lora;
  const scale = info.alpha / info.rank;
  const params: Params = {};
  for (const [k, v] of Object.entries(model.params)) if (!isLoraParam(k)) params[k] = v;
  for (const path of info.paths) {
    const w = model.params[`${path}.w`], a = model.params[`${path}.lora_a`], b = model.params[`${path}.lora_b`];
    params[`${path}.w`] = tf.tidy(() => tf.add(w, tf.mul(tf.matMul(a, b), scale)));
  }
  const { lora: _lora, trainable: _trainable, ...rest } = model;
  const layers = info.baseLayers.slice();
  const loss = model.loss;
  return {
    ...rest,
    layers,
    params,
    ...(info.baseTrainable ? { trainable: info.baseTrainable } : {}),
    savedSpecs: (inputShape, weighted = false) => trunkSavedSpecs(layers, loss, inputShape, weighted),
  };
}
