/**
 * The bridge into ordinary tfjs autodiff: run an explicit-backward layer inside `tf.grads` / `tf.variableGrads`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Context, SavedStore } from "./context.ts";
import type { Layer } from "./layer.ts";
import { keepAll, type PolicySelector } from "./policy.ts";

/**
 * Wraps `layer` as a function of `(x, ...params)` whose gradient is the layer's explicit backward (through
 * `tf.customGrad`), so a memtrain layer can sit inside a tfjs model that uses tfjs autodiff. `paramNames` are the
 * layer-relative parameter paths, in the order they are passed. The saved tensors live until the gradient runs; if
 * it never runs (forward only) call the returned `release()`.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { customGradLayer } from "./custom_grad.ts";
 * import { Linear } from "./linear.ts";
 * import assert from "node:assert/strict";
 *
 * const fc = new Linear("fc", 4, 3);
 * const x = tf.ones([2, 4]), w = tf.ones([4, 3]), b = tf.zeros([3]);
 * const { fn } = customGradLayer(fc, ["w", "b"]);
 * const [dx, dw, db] = tf.grads((x, w, b) => fn(x, w, b).sum())([x, w, b]);
 * assert.deepEqual(Array.from(dx.dataSync()), new Array(8).fill(3)); // each input feeds 3 outputs of weight 1
 * assert.deepEqual(Array.from(db.dataSync()), [2, 2, 2]);
 * assert.deepEqual(dw.shape, [4, 3]);
 * ```
 */
export function customGradLayer(
  layer: Layer,
  paramNames: string[],
  selector: PolicySelector = keepAll,
): { fn: (x: tf.Tensor, ...params: tf.Tensor[]) => tf.Tensor; release(): void } {
  const stores: SavedStore[] = [];
  const fn = tf.customGrad(
    ((...args: unknown[]) => {
      const save = args.pop() as (ts: tf.Tensor[]) => void;
      void save;
      const [x, ...ps] = args as tf.Tensor[];
      const params: Record<string, tf.Tensor> = {};
      paramNames.forEach((n, i) => (params[n] = ps[i]));
      const store = new SavedStore();
      stores.push(store);
      const ctx = new Context({ params, store, selector });
      const value = layer.forward(x, ctx);
      const gradFunc = (dy: tf.Tensor) => {
        const dx = layer.backward(dy, ctx) ?? tf.zerosLike(x);
        const grads = paramNames.map((n) => {
          const g = ctx.grads[n];
          if (!g) return tf.zerosLike(params[n]);
          const c = g.clone(); // the accumulator is tf.keep-ed: hand tfjs an ordinary tensor
          g.dispose();
          return c;
        });
        store.dispose();
        stores.splice(stores.indexOf(store), 1);
        return [dx, ...grads];
      };
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor, ...params: tf.Tensor[]) => tf.Tensor;
  return {
    fn,
    release() {
      for (const s of stores) s.dispose();
      stores.length = 0;
    },
  };
}
