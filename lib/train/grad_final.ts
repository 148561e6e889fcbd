/**
 * Knowing during backward when a parameter's gradient is final, for update in backward: a {@linkcode GradientTracker}
 * wraps the pass's parameter provider and gradient accumulator and tells its {@linkcode GradientHooks} as soon as a
 * trained parameter's gradient is complete, and later when backward reads that parameter no more.
 *
 * How a gradient is known to be final: the forward counts each trained parameter's reads (a shared or tied parameter
 * read by several layers counts each use); every read gives one gradient contribution in backward, so the gradient is
 * final when its contributions match its reads (and, as a backstop, when the backward of its earliest reader is done).
 * The value is still read by the rest of that layer's backward (a Linear computes `dx` with `W` after it accumulated
 * `dW`), so it is released when the backward of the trunk layer that read it first is done. Frozen parameters
 * (`model.trainable`) are not tracked: they get no gradient, so no hook ever names them.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Context } from "../nn/context.ts";
import type { Layer, ParamSpec, SavedSpec } from "../nn/layer.ts";
import type { Grads } from "../nn/params.ts";
import type { ParamProvider } from "../nn/provider.ts";

/** What a pass with gradient hooks tells its owner (update in backward) as it runs. */
export interface GradientHooks {
  /** After forward and the loss, before backward: throw to stop before any gradient is final. */
  beforeBackward(loss: number): void;
  /** The gradient of trained parameter `name` is final; the hook owns `grad` (and disposes it). */
  final(name: string, grad: tf.Tensor): void;
  /** Backward reads `name` no more (the backward of its first reader is done): its old value may be freed. */
  released(name: string): void;
}

/** Tracks one pass: reads in forward, contributions in backward, and which trunk layer runs. */
export class GradientTracker {
  /** The pass's phase; the pass sets it to `"backward"` before the loss's backward. */
  phase: "forward" | "backward" = "forward";
  /** Index of the trunk layer running now (the loss is the number of trunk layers). */
  current = 0;
  /** The parameter provider to run the pass with (counts reads of trained parameters in forward). */
  readonly provider: ParamProvider;
  /** The gradient accumulator to run the pass with (counts contributions in backward). */
  readonly grads: Grads;
  readonly #raw: Grads = {};
  readonly #reads = new Map<string, number>();
  readonly #firstReader = new Map<string, number>();
  readonly #contributions = new Map<string, number>();
  readonly #final = new Set<string>();
  readonly #released = new Set<string>();
  readonly #release: string[][];

  /**
   * @param hooks Told when gradients are final and values released.
   * @param base The pass's parameters.
   * @param trainable Which parameters are trained (the others are not tracked).
   * @param layers The number of trunk layers.
   */
  constructor(
    readonly hooks: GradientHooks,
    base: ParamProvider,
    readonly trainable: (name: string) => boolean,
    layers: number,
  ) {
    this.#release = Array.from({ length: layers + 1 }, () => []);
    this.provider = {
      names: () => base.names(),
      shape: (name) => base.shape(name),
      read: (name) => {
        const p = base.read(name);
        if (p === undefined || !trainable(name)) return p;
        if (this.phase === "forward") {
          this.#reads.set(name, (this.#reads.get(name) ?? 0) + 1);
          if (!this.#firstReader.has(name)) this.#firstReader.set(name, this.current);
        } else if (this.#released.has(name)) {
          throw new Error(`Cannot read parameter "${name}" in backward: it was updated and its old value freed`);
        }
        return p;
      },
    };
    this.grads = new Proxy(this.#raw, {
      set: (target, k: string, value: tf.Tensor) => {
        if (this.phase === "backward" && this.#final.has(k)) {
          throw new Error(
            `Cannot update in backward: a gradient contribution for '${k}' arrived after its gradient was final ` +
              `(${this.#reads.get(k)} reads in forward)`,
          );
        }
        target[k] = value;
        if (this.phase === "backward") {
          const n = (this.#contributions.get(k) ?? 0) + 1;
          this.#contributions.set(k, n);
          if (n === this.#reads.get(k)) this.#finalize(k);
        }
        return true;
      },
    });
  }

  /** Gradients not final yet (for cleanup on error). */
  pending(): tf.Tensor[] {
    return Object.values(this.#raw);
  }

  /** Starts backward: checks every trained parameter in `names` was read, then calls `beforeBackward`. */
  startBackward(names: readonly string[], loss: number): void {
    const unread = names.find((k) => this.trainable(k) && !this.#reads.has(k));
    if (unread !== undefined) {
      throw new TypeError(`Cannot update in backward: parameter '${unread}' was not read by forward`);
    }
    this.hooks.beforeBackward(loss);
    this.phase = "backward";
  }

  /** Ends backward: throws when a gradient never became final (a parameter that is not tracked got one). */
  finish(): void {
    const left = Object.keys(this.#raw);
    if (left.length > 0) {
      throw new Error(
        `Cannot update in backward: the gradient of '${left[0]}' never became final (${
          this.#reads.get(left[0]) ?? 0
        } reads in forward${this.trainable(left[0]) ? "" : "; it is frozen"})`,
      );
    }
  }

  /** The backward of trunk layer `index` is done (the loss's: the number of trunk layers). */
  layerDone(index: number): void {
    // Backstop: every reader of these parameters is done, so their gradients are final.
    for (const [k, first] of this.#firstReader) {
      if (first === index && !this.#final.has(k) && this.#raw[k]) this.#finalize(k);
    }
    for (const k of this.#release[index]) {
      this.#released.add(k);
      this.hooks.released(k);
    }
    this.#release[index] = [];
  }

  #finalize(k: string): void {
    const g = this.#raw[k];
    delete this.#raw[k];
    this.#final.add(k);
    try {
      this.hooks.final(k, g);
    } finally {
      if (!g.isDisposed) g.dispose();
    }
    this.#release[this.#firstReader.get(k) ?? this.current].push(k);
  }
}

/** A trunk layer as a tracked pass runs it: the same layer, telling the tracker which layer runs and when one is done. */
export class TrackedLayer implements Layer {
  /**
   * @param inner The model's layer.
   * @param index Its index in the model's trunk.
   * @param pass Holds the tracker of the running pass (none: the layer runs as it is).
   */
  constructor(readonly inner: Layer, readonly index: number, readonly pass: { tracker?: GradientTracker }) {}
  /** The inner layer's name. */
  get name(): string {
    return this.inner.name;
  }
  /** The inner layer's forward, with the tracker told it runs. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    if (this.pass.tracker) this.pass.tracker.current = this.index;
    return this.inner.forward(x, ctx);
  }
  /** The inner layer's backward, then the tracker told it is done. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null {
    const t = this.pass.tracker;
    if (t) t.current = this.index;
    const dx = this.inner.backward(dy, ctx);
    t?.layerDone(this.index);
    return dx;
  }
  /** The inner layer's parameters. */
  paramSpecs(): ParamSpec[] {
    return this.inner.paramSpecs();
  }
  /** The inner layer's saved tensors. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return this.inner.savedSpecs(inputShape);
  }
  /** The inner layer's output shape. */
  outputShape(inputShape: readonly number[]): number[] {
    return this.inner.outputShape(inputShape);
  }
}
