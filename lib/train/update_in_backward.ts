/**
 * Update in backward (after LOMO and PyTorch's optimizer-in-backward): each parameter is updated as soon as its
 * gradient is final during backward, so the whole gradient set never exists. The optimizer runs parameter by
 * parameter (`lib/optim/separable.ts`); a global transform such as `clipByGlobalNorm` is refused with a clear error.
 *
 * How a gradient is known to be final: the forward counts each parameter's reads (a shared or tied parameter read
 * by several layers counts each use); every read gives one gradient contribution in backward, so the gradient is final
 * when its contributions match its reads (and, as a backstop, when the backward of its earliest reader is done).
 * The old value is still read by the rest of that layer's backward (a Linear computes `dx` with `W` after it
 * accumulated `dW`), so it is freed when the backward of the trunk layer that read it first is done: at most one
 * trunk layer's parameters are held twice.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { drainDeferred } from "../backend/mod.ts";
import { meter } from "../memory/meter.ts";
import { Context, SavedStore } from "../nn/context.ts";
import type { GradSource, TrainStep } from "../nn/grad_source.ts";
import type { Layer, ParamSpec, SavedSpec } from "../nn/layer.ts";
import type { Batch, Model } from "../nn/model.ts";
import type { Grads, Params } from "../nn/params.ts";
import { keepAll } from "../nn/policy.ts";
import type { ParamProvider } from "../nn/provider.ts";
import { Sequence } from "../nn/sequence.ts";
import { checkSeparable, ParamUpdater } from "../optim/separable.ts";
import type { GradientTransform } from "../optim/transform.ts";
import { type BackpropOptions, backpropOptionsOf } from "./backprop.ts";

/** What one pass of the in-backward step tracks. */
interface PassState {
  phase: "forward" | "backward";
  /** Index of the trunk layer running now (the loss is `layers.length`). */
  current: number;
  reads: Map<string, number>;
  firstReader: Map<string, number>;
  contributions: Map<string, number>;
  final(name: string): void;
  layerDone(index: number): void;
}

/** A model layer as the in-backward step runs it: the same layer, reporting which layer runs and when one is done. */
class TrackedLayer implements Layer {
  constructor(readonly inner: Layer, readonly index: number, readonly pass: { state?: PassState }) {}
  get name(): string {
    return this.inner.name;
  }
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    if (this.pass.state) this.pass.state.current = this.index;
    return this.inner.forward(x, ctx);
  }
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null {
    const s = this.pass.state;
    if (s) s.current = this.index;
    const dx = this.inner.backward(dy, ctx);
    s?.layerDone(this.index);
    return dx;
  }
  paramSpecs(): ParamSpec[] {
    return this.inner.paramSpecs();
  }
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return this.inner.savedSpecs(inputShape);
  }
  outputShape(inputShape: readonly number[]): number[] {
    return this.inner.outputShape(inputShape);
  }
}

/**
 * A {@linkcode TrainStep} that updates each parameter with `optimizer` as soon as its gradient is final in the
 * backward of `source` (which must be {@linkcode backprop}: its selector and trunk transform, e.g. checkpointing and
 * Mesa, are kept). Each gradient is freed right after its parameter's update, and that parameter's old state tensors
 * with it; the parameters after N steps equal the standard step's bit for bit (the same ops run per element).
 *
 * A non-finite loss throws before anything is updated; an error later in backward leaves the parameters and state
 * partly updated (their old tensors freed), so the run should stop.
 *
 * @param source A `backprop(...)` gradient source.
 * @param optimizer A separable optimizer (AdamW, Adam, SGD, weight decay, schedules).
 * @throws {TypeError} when `source` is not a backprop source, or the optimizer has a global transform (the message
 *   names it and the alternatives).
 *
 * @example AdamW, updated in backward
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { updateInBackward } from "./update_in_backward.ts";
 * import { backprop } from "./backprop.ts";
 * import { Trainer } from "./trainer.ts";
 * import { adamw } from "../optim/mod.ts";
 * import { createGpt, GPT_PRESETS } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 });
 * const trainer = new Trainer(gpt, { step: updateInBackward(backprop(), adamw({ lr: 1e-2 })) });
 * const batch = { x: tf.zeros([2, 8], "int32"), y: tf.ones([2, 8], "int32") };
 * const first = trainer.step(batch).loss;
 * assert.ok(trainer.step(batch).loss < first);
 * trainer.dispose();
 * tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
 * ```
 */
export function updateInBackward<S>(source: GradSource, optimizer: GradientTransform<S>): TrainStep<S> {
  const options: BackpropOptions | undefined = backpropOptionsOf(source);
  if (!options) {
    throw new TypeError(
      `Cannot update in backward: the gradient source must be backprop(...) (the step runs its passes to see each ` +
        `gradient become final): current source is '${source.name}'`,
    );
  }
  checkSeparable(optimizer as GradientTransform<unknown>, "update in backward");
  const selector = options.selector ?? keepAll;
  const pass: { state?: PassState } = {};
  const cache = new WeakMap<Model, Sequence>();
  const trunkOf = (model: Model): Sequence => {
    let seq = cache.get(model);
    if (!seq) {
      const tracked = model.layers.map((l, i) => new TrackedLayer(l, i, pass));
      seq = new Sequence("", options.trunk ? options.trunk(tracked) : tracked);
      cache.set(model, seq);
    }
    return seq;
  };
  return {
    name: `updateInBackward(${source.name})`,
    init: (params) => optimizer.init(params),
    step(model: Model, batch: Batch, state: S, key) {
      if (pass.state) throw new Error("Cannot run updateInBackward: a step of this trainer step is already running");
      if (model.trainable) {
        throw new TypeError(
          "Cannot run updateInBackward: the model freezes parameters ('trainable', e.g. LoRA), which update in " +
            'backward does not support yet; use update: "per-param" (the default)',
        );
      }
      const trunk = trunkOf(model);
      const old = model.params, keys = Object.keys(old);
      const next: Params = {};
      const release: string[][] = Array.from({ length: model.layers.length + 1 }, () => []);
      const raw: Grads = {};
      let updater: ParamUpdater<S> | undefined;
      const s: PassState = {
        phase: "forward",
        current: 0,
        reads: new Map(),
        firstReader: new Map(),
        contributions: new Map(),
        final(k) {
          const g = raw[k];
          delete raw[k];
          try {
            next[k] = updater!.update(k, g, old[k], true);
          } finally {
            if (!g.isDisposed) g.dispose();
          }
          release[s.firstReader.get(k) ?? s.current].push(k);
        },
        layerDone(index) {
          // Backstop: every reader of these parameters is done, so their gradients are final.
          for (const [k, first] of s.firstReader) {
            if (first === index && !updater!.updated.has(k) && raw[k]) s.final(k);
          }
          for (const k of release[index]) old[k].dispose();
          release[index] = [];
        },
      };
      const provider: ParamProvider = {
        names: () => keys,
        shape: (name) => (Object.hasOwn(old, name) ? old[name].shape : undefined),
        read(name) {
          if (!Object.hasOwn(old, name)) return undefined;
          if (s.phase === "forward") {
            s.reads.set(name, (s.reads.get(name) ?? 0) + 1);
            if (!s.firstReader.has(name)) s.firstReader.set(name, s.current);
          } else if (updater!.updated.has(name) && old[name].isDisposed) {
            throw new Error(`Cannot read parameter "${name}" in backward: it was updated and its old value freed`);
          }
          return old[name];
        },
      };
      const grads = new Proxy(raw, {
        set(target, k: string, value: tf.Tensor) {
          if (s.phase === "backward" && updater!.updated.has(k)) {
            throw new Error(
              `Cannot update in backward: a gradient contribution for '${k}' arrived after its gradient was final ` +
                `(${s.reads.get(k)} reads in forward)`,
            );
          }
          target[k] = value;
          if (s.phase === "backward") {
            const n = (s.contributions.get(k) ?? 0) + 1;
            s.contributions.set(k, n);
            if (n === s.reads.get(k)) s.final(k);
          }
          return true;
        },
      });
      const store = new SavedStore();
      const ctx = new Context({
        params: provider,
        store,
        selector,
        grads,
        key,
        ...(batch.rows ? { rows: batch.rows } : {}),
      });
      const m = meter();
      const before = m.live;
      pass.state = s;
      try {
        const logits = trunk.forward(batch.x, ctx);
        s.current = model.layers.length;
        const lossT = model.loss.forward(logits, batch.y, ctx.child(model.loss.name), batch.weights);
        const logitsShape = logits.shape;
        logits.dispose();
        const loss = lossT.dataSync()[0];
        lossT.dispose();
        const forwardBytes = m.live - before;
        const savedBytes = store.bytes();
        if (!Number.isFinite(loss)) throw new RangeError(`Cannot take a training step: the loss is ${loss}`);
        const unread = keys.find((k) => !s.reads.has(k));
        if (unread !== undefined) {
          throw new TypeError(`Cannot update in backward: parameter '${unread}' was not read by forward`);
        }
        updater = new ParamUpdater(optimizer, state, keys, { loss, step: key.step });
        s.phase = "backward";
        const dlogits = model.loss.backward(ctx.child(model.loss.name), logitsShape);
        s.layerDone(model.layers.length);
        const dx = trunk.backward(dlogits, ctx);
        dlogits.dispose();
        dx?.dispose();
        drainDeferred();
        if (store.size !== 0) {
          throw new Error(
            `updateInBackward: ${store.size} saved tensors were never used by backward (${store.report()[0].tag}, ...)`,
          );
        }
        const newState = updater.finish();
        return {
          loss,
          params: Object.fromEntries(keys.map((k) => [k, next[k]])),
          state: newState,
          savedBytes,
          forwardBytes,
        };
      } catch (e) {
        store.dispose();
        for (const g of Object.values(raw)) g.dispose();
        for (const t of Object.values(next)) t.dispose();
        throw e;
      } finally {
        pass.state = undefined;
      }
    },
  };
}
