/**
 * A layer made of child layers run in order.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { chainSavedSpecs, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";

/**
 * Runs `layers` in order; backward runs them in reverse. Each child gets `ctx.child(child.name)`. Intermediate
 * activations are disposed as soon as the next layer has consumed them (what backward needs was saved).
 */
export class Sequence implements Layer {
  /** Creates a sequence named `name` (`""` for a root sequence whose children sit at the top level). */
  constructor(readonly name: string, readonly layers: Layer[]) {
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.name)) throw new RangeError(`Cannot create Sequence "${name}": duplicate child name "${l.name}"`);
      seen.add(l.name);
    }
  }

  /** Children's parameters, prefixed with their names. */
  paramSpecs(): ParamSpec[] {
    return this.layers.flatMap((l) => prefixed(l.name, l.paramSpecs()));
  }

  /** Children's saved tensors, prefixed with their names. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return chainSavedSpecs(this.layers, inputShape);
  }

  /** Output shape of the last child. */
  outputShape(inputShape: readonly number[]): number[] {
    return this.layers.reduce((s, l) => l.outputShape(s), inputShape.slice());
  }

  /** Forward through every child. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    let h = x;
    for (const l of this.layers) {
      const next = l.forward(h, ctx.child(l.name));
      if (h !== x) h.dispose();
      h = next;
    }
    return h === x ? x.clone() : h;
  }

  /** Backward through every child in reverse; returns null if the first child's input is not differentiable. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null {
    let g: tf.Tensor | null = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      if (g === null) {
        throw new Error(`Cannot run backward through "${ctx.at(l.name)}": the next layer returned no gradient`);
      }
      const next: tf.Tensor | null = l.backward(g, ctx.child(l.name));
      if (g !== dy) g.dispose();
      g = next;
    }
    return g === dy ? dy.clone() : g;
  }
}
