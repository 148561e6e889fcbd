/**
 * Mesa's running quantization ranges: one EMA estimate of (α, β) per saved-tensor tag, held as small kept tensors so
 * the training hot path never downloads anything.
 *
 * References: Pan et al., "Mesa: A Memory-saving Training Framework for Transformers", arXiv:2111.11124
 * (`update_clip_val_shift` in ziplab/Mesa `mesa/custom_quant.py`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Stateful, StateTree } from "../nn/stateful.ts";

/** The running range of one tag, read back for inspection. */
export interface MesaRange {
  /** Range α per group. */
  alpha: Float32Array;
  /** Minimum β per group. */
  beta: Float32Array;
  /** Number of batches folded in so far. */
  updates: number;
}

/** The pass that last folded a tag's range: its `{ step, seed }` key. */
type PassKey = { step: number; seed: number };

/** A JSON-friendly copy of all running ranges (for saving with training state). */
export type MesaSnapshot = Record<
  string,
  { alpha: number[]; beta: number[]; updates: number; last?: { step: number; seed: number } }
>;

interface Entry {
  alpha: tf.Tensor1D;
  beta: tf.Tensor1D;
  updates: number;
  /** The pass that folded in last, when it had a key. */
  last?: PassKey;
}

/**
 * Called after each range update with the tag, the batch's per-group min/max and the updated running range (all
 * `[G]`, valid only during the call: download what you need).
 */
export type MesaRangeObserver = (
  tag: string,
  batch: { min: tf.Tensor1D; max: tf.Tensor1D },
  range: { alpha: tf.Tensor1D; beta: tf.Tensor1D },
) => void;

/**
 * Running ranges per tag. The first batch of a tag sets `α = max − min`, `β = min`; later batches fold in with
 * `α ← λα + (1−λ)(max − min)`, `β ← λβ + (1−λ)min` (λ = `emaDecay`). A tag whose group count changes starts over.
 * Each update may name its pass (`{ step, seed }`): a second update of a tag by the same pass is a replay (a
 * checkpoint recompute, a resumed step) and returns that pass's range unchanged instead of folding the batch in
 * twice. The rounding noise is not state: it comes from the pass key (`savedRng` in `lib/nn/policy.ts`).
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { MesaState } from "./state.ts";
 * const state = new MesaState(0.9);
 * tf.tidy(() => { state.update("fc.input", tf.tensor1d([0]), tf.tensor1d([2])); }); // α = 2, β = 0
 * tf.tidy(() => { state.update("fc.input", tf.tensor1d([0]), tf.tensor1d([4])); }); // α = 0.9·2 + 0.1·4 = 2.2
 * state.get("fc.input")?.alpha; // Float32Array [2.2]
 * state.dispose();
 * ```
 */
export class MesaState implements Stateful {
  readonly #ranges = new Map<string, Entry>();
  readonly #observers = new Set<MesaRangeObserver>();

  /** Creates empty state with EMA decay λ = `emaDecay`. */
  constructor(readonly emaDecay: number) {}

  /**
   * Folds a batch's per-group `min`/`max` (`[G]`) into the range of `tag` and returns the range to quantize this
   * batch with. With `pass` (a `{ step, seed }` key, e.g. the `SavedInfo` of the packed tensor; ignored when it has
   * no `step`), an update by the same pass as the last one is a replay: the range is returned as it is. The returned tensors belong to the state
   * (clone them to keep them past the next update).
   */
  update(
    tag: string,
    min: tf.Tensor1D,
    max: tf.Tensor1D,
    pass?: { step?: number; seed?: number },
  ): { alpha: tf.Tensor1D; beta: tf.Tensor1D } {
    const old = this.#ranges.get(tag);
    const key = pass?.step === undefined ? undefined : { step: pass.step, seed: pass.seed ?? 0 };
    if (
      old && key && old.last && old.last.step === key.step && old.last.seed === key.seed && old.alpha.size === min.size
    ) {
      return { alpha: old.alpha, beta: old.beta };
    }
    const lam = this.emaDecay;
    const prev = old && old.alpha.size === min.size ? old : undefined;
    const [alpha, beta] = tf.tidy(() => {
      const range = tf.sub(max, min);
      if (!prev) return [tf.keep(range), tf.keep(min.clone())] as tf.Tensor1D[];
      return [
        tf.keep(tf.add(tf.mul(prev.alpha, lam), tf.mul(range, 1 - lam))),
        tf.keep(tf.add(tf.mul(prev.beta, lam), tf.mul(min, 1 - lam))),
      ] as tf.Tensor1D[];
    });
    if (old) {
      old.alpha.dispose();
      old.beta.dispose();
    }
    this.#ranges.set(tag, { alpha, beta, updates: prev ? prev.updates + 1 : 1, ...(key ? { last: key } : {}) });
    for (const observe of this.#observers) observe(tag, { min, max }, { alpha, beta });
    return { alpha, beta };
  }

  /**
   * Registers `observer` for every later update (diagnostics: e.g. how far batches reach beyond the running range);
   * returns a function that unregisters it.
   */
  observe(observer: MesaRangeObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** The running range of `tag` (downloads it: for tests and inspection, not the hot path). */
  get(tag: string): MesaRange | undefined {
    const e = this.#ranges.get(tag);
    if (!e) return undefined;
    return { alpha: e.alpha.dataSync() as Float32Array, beta: e.beta.dataSync() as Float32Array, updates: e.updates };
  }

  /** Tags with a running range, in first-seen order. */
  tags(): string[] {
    return [...this.#ranges.keys()];
  }

  /** Number of tags with a running range. */
  get size(): number {
    return this.#ranges.size;
  }

  /** Number of tensors the state holds (two per tag). */
  get numTensors(): number {
    return 2 * this.#ranges.size;
  }

  /** Bytes of the running ranges (float32, two per group per tag). */
  bytes(): number {
    let n = 0;
    for (const e of this.#ranges.values()) n += 4 * (e.alpha.size + e.beta.size);
    return n;
  }

  /** Forgets the range of `tag`, or of every tag when `tag` is omitted. */
  reset(tag?: string): void {
    const tags = tag === undefined ? this.tags() : [tag];
    for (const t of tags) {
      const e = this.#ranges.get(t);
      if (!e) continue;
      e.alpha.dispose();
      e.beta.dispose();
      this.#ranges.delete(t);
    }
  }

  /** A JSON-friendly copy of every running range (with the pass that last folded each in). */
  snapshot(): { ranges: MesaSnapshot } {
    const ranges: MesaSnapshot = {};
    for (const tag of this.tags()) {
      const r = this.get(tag)!;
      const last = this.#ranges.get(tag)!.last;
      ranges[tag] = {
        alpha: Array.from(r.alpha),
        beta: Array.from(r.beta),
        updates: r.updates,
        ...(last ? { last: { ...last } } : {}),
      };
    }
    return { ranges };
  }

  /** Replaces the state with a {@linkcode MesaState.snapshot}. */
  restore(snapshot: { ranges: MesaSnapshot }): void {
    this.reset();
    for (const [tag, r] of Object.entries(snapshot.ranges)) {
      if (r.alpha.length !== r.beta.length || r.alpha.length === 0) {
        throw new RangeError(
          `Cannot restore Mesa state: "${tag}" has ${r.alpha.length} alpha and ${r.beta.length} beta values`,
        );
      }
      const alpha = tf.keep(tf.tensor1d(r.alpha, "float32"));
      const beta = tf.keep(tf.tensor1d(r.beta, "float32"));
      this.#ranges.set(tag, { alpha, beta, updates: r.updates, ...(r.last ? { last: { ...r.last } } : {}) });
    }
  }

  /**
   * The running ranges as a state tree for a checkpoint (`Stateful`): `{ tags: { [tag]: { alpha, beta, updates,
   * last } } }` with `alpha`/`beta` as Float32Arrays (downloaded) and `last` the folding pass's key or `null`.
   */
  stateDict(): StateTree {
    const tags: Record<string, StateTree> = {};
    for (const [tag, e] of this.#ranges) {
      tags[tag] = {
        alpha: e.alpha.dataSync() as Float32Array,
        beta: e.beta.dataSync() as Float32Array,
        updates: e.updates,
        last: e.last ? { step: e.last.step, seed: e.last.seed } : null,
      };
    }
    return { emaDecay: this.emaDecay, tags };
  }

  /**
   * Replaces the running ranges with a {@linkcode MesaState.stateDict} (`Stateful`).
   * @throws {TypeError} when `state` is not such a tree (naming the tag); {RangeError} when its EMA decay differs.
   */
  loadStateDict(state: StateTree): void {
    const s = state as { emaDecay?: unknown; tags?: Record<string, unknown> } | null;
    if (s === null || typeof s !== "object" || s.tags === null || typeof s.tags !== "object") {
      throw new TypeError("Cannot load Mesa state: 'state' must be a MesaState.stateDict() tree with 'tags'");
    }
    if (s.emaDecay !== this.emaDecay) {
      throw new RangeError(
        `Cannot load Mesa state: its 'emaDecay' is ${String(s.emaDecay)}, this state's is ${this.emaDecay}`,
      );
    }
    const ranges = new Map<string, Entry>();
    for (const [tag, v] of Object.entries(s.tags)) {
      const r = v as { alpha?: unknown; beta?: unknown; updates?: unknown; last?: { step?: unknown; seed?: unknown } };
      const ok = r !== null && typeof r === "object" && r.alpha instanceof Float32Array &&
        r.beta instanceof Float32Array && r.alpha.length === r.beta.length && r.alpha.length > 0 &&
        Number.isSafeInteger(r.updates) &&
        (r.last === null || (typeof r.last?.step === "number" && typeof r.last?.seed === "number"));
      if (!ok) throw new TypeError(`Cannot load Mesa state: the range of "${tag}" is malformed`);
      ranges.set(tag, {
        alpha: tf.keep(tf.tensor1d(r.alpha as Float32Array, "float32")),
        beta: tf.keep(tf.tensor1d(r.beta as Float32Array, "float32")),
        updates: r.updates as number,
        ...(r.last ? { last: { step: r.last.step as number, seed: r.last.seed as number } } : {}),
      });
    }
    this.reset();
    for (const [tag, e] of ranges) this.#ranges.set(tag, e);
  }

  /** Frees every running range (the state stays usable: the next batch of each tag starts over). */
  dispose(): void {
    this.reset();
  }
}
