/**
 * A checkpointed segment: a run of consecutive layers whose forward keeps only the segment input, and whose backward
 * recomputes the inner forward (saving through the caller's selector) before running the inner backward.
 *
 * The segment is path-transparent: its children run at the segment's *parent* path, so tags and parameter paths are
 * the same as without checkpointing (`blocks.0.ln1.g` stays `blocks.0.ln1.g`). Only the segment input is saved under
 * the segment's own name, `<segment>.input` (role `checkpoint.input`).
 *
 * Recomputation must be deterministic. memtrain has no RNG-dependent layer today; a future dropout layer must draw
 * its mask from a seed saved in forward (or derived from the tag and step) so the recomputed forward replays it, as
 * `torch.utils.checkpoint` does with `preserve_rng_state`.
 *
 * References: Chen, Xu, Zhang, Guestrin, "Training Deep Nets with Sublinear Memory Cost", arXiv:1604.06174 (2016).
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type Context, SavedStore } from "../nn/context.ts";
import { chainSavedSpecs, type Layer, type ParamSpec, prefixed, type SavedSpec } from "../nn/layer.ts";
import { discardAll, keepAll, type PolicySelector } from "../nn/policy.ts";
import { predictSavedBytes } from "../nn/analytic.ts";

/**
 * The recomputed forward of a checkpointed segment differed from the original forward (output shape, or the tags,
 * shapes and dtypes of the tensors the inner layers saved): the segment is not deterministic, so its gradient would
 * be wrong.
 *
 * @example Usage
 * ```ts
 * import { RecomputeMismatchError } from "./segment.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new RecomputeMismatchError("checkpoint[blocks.0]", "output shape [2,3] vs [2,4]");
 * assert.equal(e.name, "RecomputeMismatchError");
 * assert.match(e.message, /checkpoint\[blocks\.0\]/);
 * ```
 */
export class RecomputeMismatchError extends Error {
  /** Creates the error for the segment at `tag` with a description of the difference. */
  constructor(readonly tag: string, readonly detail: string) {
    super(`Cannot run backward through checkpointed segment "${tag}": the recomputed forward differs (${detail})`);
    this.name = "RecomputeMismatchError";
  }
}

/** Options for {@linkcode CheckpointSegment}. */
export interface CheckpointSegmentOptions {
  /** The segment's name (its saved input is tagged `<name>.input`). @default {"checkpoint[<first>..<last>]"} */
  name?: string;
  /** Dtype of the segment input, for {@linkcode CheckpointSegment.savedSpecs}. @default {"float32"} */
  inputDtype?: tf.DataType;
}

/** What the forward recorded about the inner layers, checked against the recomputation. */
interface ForwardRecord {
  outputShape: number[];
  saved: string[];
}

/** Per store (one step), per segment tag: what forward recorded. Weak so an abandoned store takes its records along. */
const records = new WeakMap<SavedStore, Map<string, ForwardRecord>>();

function describeSaved(store: SavedStore): string[] {
  return store.report().map((r) => `${r.tag}:${r.dtype}[${r.shape}]`);
}

/**
 * Wraps consecutive layers into one checkpointed layer (Chen et al. 2016, Alg. 1).
 *
 * Forward saves only the segment input (through the caller's selector, role `checkpoint.input`) and runs the inner
 * layers keeping nothing. Backward loads the input, re-runs the inner forward into a temporary store with the
 * caller's selector (so checkpointing composes with Mesa or WTA-CRS policies), then runs the inner backward in
 * reverse and frees the temporary store. Extra cost: one more forward of the segment.
 *
 * The segment is path-transparent: it must run at a context whose path ends with its own name (as
 * {@linkcode Sequence} runs children); its children run at the parent path. Accordingly {@linkcode paramSpecs}
 * and {@linkcode recomputeSpecs} are relative to the segment's parent, while {@linkcode savedSpecs} (the input) is
 * relative to the segment.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CheckpointSegment } from "./segment.ts";
 * import { Context } from "../nn/context.ts";
 * import { Linear } from "../nn/linear.ts";
 * import { Gelu } from "../nn/gelu.ts";
 * import { initParams } from "../models/init.ts";
 * import assert from "node:assert/strict";
 *
 * const seg = new CheckpointSegment([new Linear("fc", 4, 4), new Gelu("act")]);
 * const ctx = new Context({ params: initParams(seg.paramSpecs(), 0) });
 * const x = tf.ones([2, 4]);
 * const y = seg.forward(x, ctx.child(seg.name));
 * assert.deepEqual(ctx.store.report().map((r) => r.tag), ["checkpoint[fc..act].input"]);
 * const dx = seg.backward(tf.onesLike(y), ctx.child(seg.name));
 * assert.deepEqual(Object.keys(ctx.grads).sort(), ["fc.b", "fc.w"]);
 * assert.deepEqual(dx?.shape, [2, 4]);
 * ```
 */
export class CheckpointSegment implements Layer {
  /** Name of the segment (path of its saved input). */
  readonly name: string;
  /** The wrapped layers, run in order. */
  readonly layers: readonly Layer[];
  /** Dtype of the segment input. */
  readonly inputDtype: tf.DataType;

  /**
   * Wraps `layers` (at least one, with distinct names).
   * @throws {RangeError} when `layers` is empty or has duplicate names.
   */
  constructor(layers: readonly Layer[], options: CheckpointSegmentOptions = {}) {
    if (layers.length === 0) throw new RangeError("Cannot create CheckpointSegment: 'layers' must not be empty");
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.name)) {
        throw new RangeError(`Cannot create CheckpointSegment: duplicate layer name ${JSON.stringify(l.name)}`);
      }
      seen.add(l.name);
    }
    const first = layers[0].name, last = layers[layers.length - 1].name;
    this.name = options.name ?? (layers.length === 1 ? `checkpoint[${first}]` : `checkpoint[${first}..${last}]`);
    if (this.name === "") throw new RangeError("Cannot create CheckpointSegment: 'name' must not be empty");
    this.layers = layers.slice();
    this.inputDtype = options.inputDtype ?? "float32";
  }

  /** The children's parameters with paths relative to the segment's parent (the segment adds no path level). */
  paramSpecs(): ParamSpec[] {
    return this.layers.flatMap((l) => prefixed(l.name, l.paramSpecs()));
  }

  /** What forward keeps: only the input (relative to the segment: `"input"`). */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return [{ name: "input", role: "checkpoint.input", shape: inputShape.slice(), dtype: this.inputDtype }];
  }

  /** What the recomputed forward saves during backward, with tags relative to the segment's parent. */
  recomputeSpecs(inputShape: readonly number[]): SavedSpec[] {
    return chainSavedSpecs(this.layers, inputShape);
  }

  /** Output shape of the last wrapped layer. */
  outputShape(inputShape: readonly number[]): number[] {
    return this.layers.reduce((s, l) => l.outputShape(s), inputShape.slice());
  }

  /** Saves the input, runs the inner layers saving nothing, returns the output. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    const parent = this.#parent(ctx);
    const probe = new SavedStore(); // discard entries: shapes only, to check the recomputation against
    try {
      const y = this.#run(x, parent.withStore(probe).withSelector(discardAll));
      try {
        ctx.save("input", x, "checkpoint.input");
      } catch (e) {
        y.dispose();
        throw e;
      }
      let perStore = records.get(ctx.store);
      if (!perStore) records.set(ctx.store, perStore = new Map());
      perStore.set(ctx.at(""), { outputShape: y.shape.slice(), saved: describeSaved(probe) });
      return y;
    } finally {
      probe.dispose();
    }
  }

  /** Recomputes the inner forward with the caller's selector, then runs the inner backward in reverse. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null {
    const parent = this.#parent(ctx);
    const tag = ctx.at("");
    const record = records.get(ctx.store)?.get(tag);
    records.get(ctx.store)?.delete(tag);
    let x: tf.Tensor | null = ctx.load("input");
    const tmp = new SavedStore();
    const rctx = parent.withStore(tmp);
    try {
      const y = this.#run(x, rctx);
      const outShape = y.shape.slice();
      if (y !== x) y.dispose();
      x.dispose(); // what the inner backward needs now lives in `tmp`
      x = null;
      const want = record?.outputShape ?? dy.shape;
      if (outShape.join(",") !== want.join(",")) {
        throw new RecomputeMismatchError(tag, `output shape [${outShape}] vs [${want}] in forward`);
      }
      if (record) {
        const got = describeSaved(tmp);
        if (got.join("|") !== record.saved.join("|")) {
          const i = got.findIndex((g, k) => g !== record.saved[k]);
          throw new RecomputeMismatchError(
            tag,
            `saved tensor ${i + 1}: ${got[i] ?? "nothing"} vs ${record.saved[i] ?? "nothing"} in forward`,
          );
        }
      }
      let g: tf.Tensor | null = dy;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const l = this.layers[i];
        if (g === null) {
          throw new Error(`Cannot run backward through "${rctx.at(l.name)}": the next layer returned no gradient`);
        }
        const next: tf.Tensor | null = l.backward(g, rctx.child(l.name));
        if (g !== dy) g.dispose();
        g = next;
      }
      if (tmp.size !== 0) {
        g?.dispose();
        throw new Error(
          `Cannot run backward through checkpointed segment "${tag}": ${tmp.size} recomputed tensors were never used (${
            tmp.report()[0].tag
          }, ...)`,
        );
      }
      return g === dy ? dy.clone() : g;
    } finally {
      x?.dispose();
      tmp.dispose();
    }
  }

  /** Forward through the children at `ctx`, disposing intermediates; the caller owns the result. */
  #run(x: tf.Tensor, ctx: Context): tf.Tensor {
    let h = x;
    try {
      for (const l of this.layers) {
        const next = l.forward(h, ctx.child(l.name));
        if (h !== x) h.dispose();
        h = next;
      }
    } catch (e) {
      if (h !== x) h.dispose();
      throw e;
    }
    return h === x ? x.clone() : h;
  }

  /** The context one level up: the segment adds no path level for its children. */
  #parent(ctx: Context): Context {
    let path: string;
    if (ctx.path === this.name) path = "";
    else if (ctx.path.endsWith(`.${this.name}`)) path = ctx.path.slice(0, -this.name.length - 1);
    else {
      throw new Error(
        `Cannot run CheckpointSegment "${this.name}": it must run at a context whose path ends with its name ` +
          `(use ctx.child("${this.name}")): current path is ${JSON.stringify(ctx.path)}`,
      );
    }
    return ctx.withPath(path);
  }
}

/**
 * Parameter specs of a trunk that may contain {@linkcode CheckpointSegment}s, with full paths: ordinary layers are
 * prefixed with their names, segments are transparent. Equals the un-checkpointed trunk's specs.
 *
 * @example Usage
 * ```ts
 * import { CheckpointSegment, trunkParamSpecs } from "./segment.ts";
 * import { Linear } from "../nn/linear.ts";
 * import assert from "node:assert/strict";
 *
 * const trunk = [new CheckpointSegment([new Linear("a", 2, 2)]), new Linear("b", 2, 2)];
 * assert.deepEqual(trunkParamSpecs(trunk).map((s) => s.name), ["a.w", "a.b", "b.w", "b.b"]);
 * ```
 */
export function trunkParamSpecs(layers: readonly Layer[]): ParamSpec[] {
  return layers.flatMap((l) =>
    l instanceof CheckpointSegment ? trunkParamSpecs(l.layers) : prefixed(l.name, l.paramSpecs())
  );
}

/** The model's loss as {@linkcode predictPeakSavedBytes} reads it: a name and saved specs for the trunk's output. */
export interface LossSpecs {
  /** Path segment. */
  readonly name: string;
  /** Saved specs for the trunk's output shape. */
  savedSpecs(outputShape: readonly number[], weighted?: boolean): SavedSpec[];
}

/** Options for {@linkcode predictPeakSavedBytes}. */
export interface PeakOptions {
  /** Policy per saved tensor (applied both to segment inputs and to the recomputed tensors). @default {keepAll} */
  selector?: PolicySelector;
  /** The model's loss, whose saved tensors are held at the end of forward. */
  loss?: LossSpecs;
  /** Whether the loss is weighted (a loss mask). @default {false} */
  weighted?: boolean;
}

/**
 * Predicts the most bytes held for backward at any moment of a step through a (checkpointed) trunk: the larger of
 * what is held at the end of forward (segment inputs, un-checkpointed layers' tensors, the loss's) and, for each
 * segment, what is held while it is backpropagated (everything saved before it, its reloaded input and the peak of
 * its recomputation, recursively for nested segments). Without segments this is the plain saved count.
 *
 * For `k` equal segments over `n` equal blocks this is about `k·input + (n/k)·block` (Chen et al., Eq. 1), minimal
 * near `k = √n`.
 *
 * @example Usage
 * ```ts
 * import { checkpoint } from "./plan.ts";
 * import { predictPeakSavedBytes } from "./segment.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, layers: 4 });
 * const plain = predictPeakSavedBytes(gpt.layers, [2, 8], { loss: gpt.loss });
 * const sqrt = predictPeakSavedBytes(checkpoint("sqrt")(gpt.layers), [2, 8], { loss: gpt.loss });
 * assert.ok(sqrt < plain);
 * ```
 */
export function predictPeakSavedBytes(
  layers: readonly Layer[],
  inputShape: readonly number[],
  options: PeakOptions = {},
): number {
  const selector = options.selector ?? keepAll;
  // held: saved by `ls` when its forward ends; nested: the most held while a segment inside `ls` is backpropagated
  // (counted from the start of `ls`).
  const walk = (ls: readonly Layer[], shape0: readonly number[], path: string) => {
    let held = 0, peak = 0, nested = 0, shape = shape0.slice();
    for (const l of ls) {
      const at = path === "" ? l.name : `${path}.${l.name}`;
      const own = predictSavedBytes(prefixed(at, l.savedSpecs(shape)), selector);
      if (l instanceof CheckpointSegment) {
        const inner = walk(l.layers, shape, path);
        // The recompute's forward runs with the reloaded input alive; the input is freed before the inner backward,
        // so a segment nested inside is backpropagated without it.
        nested = Math.max(nested, held + own + inner.held, held + inner.nested);
      }
      held += own;
      peak = Math.max(peak, held);
      shape = l.outputShape(shape);
    }
    return { held, peak: Math.max(peak, nested), nested, shape };
  };
  const trunk = walk(layers, inputShape, "");
  const loss = options.loss
    ? predictSavedBytes(prefixed(options.loss.name, options.loss.savedSpecs(trunk.shape, options.weighted)), selector)
    : 0;
  return Math.max(trunk.peak, trunk.held + loss);
}
