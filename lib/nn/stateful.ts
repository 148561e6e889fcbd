/**
 * The seam for pieces that hold training state outside the parameters and the optimizer (Mesa's running ranges,
 * WTA-CRS's gradient-norm cache): a {@linkcode Stateful} gives its state as a {@linkcode StateTree} and takes one
 * back, so a checkpoint (`lib/state`, `Trainer.save`) saves and restores it without knowing the technique.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** The typed arrays a state tree may hold (saved as F32, F64, I32, U16 and U8). */
export type StateArray = Float32Array | Float64Array | Int32Array | Uint16Array | Uint8Array;

/**
 * Training state as plain data: tensors, typed arrays, numbers (NaN, ±Infinity and -0 included), strings, booleans,
 * `null`, and arrays or records of these. An optimizer state (an optax-style tree) is one.
 */
export type StateTree =
  | tf.Tensor
  | StateArray
  | number
  | string
  | boolean
  | null
  | undefined
  | StateTree[]
  | { [key: string]: StateTree };

/**
 * Something that holds training state and can give and take it (the checkpoint seam). Each technique implements it
 * in its own folder; the `Trainer` lists them by name (`TrainerOptions.stateful`) and saves each under its name.
 *
 * @example A counter that survives a checkpoint
 * ```ts
 * import type { StateTree, Stateful } from "./stateful.ts";
 * import assert from "node:assert/strict";
 *
 * class Counter implements Stateful {
 *   n = 0;
 *   stateDict(): StateTree {
 *     return { n: this.n };
 *   }
 *   loadStateDict(state: StateTree): void {
 *     this.n = (state as { n: number }).n;
 *   }
 * }
 * const a = new Counter(), b = new Counter();
 * a.n = 3;
 * b.loadStateDict(a.stateDict());
 * assert.equal(b.n, 3);
 * ```
 */
export interface Stateful {
  /** The state now, as a tree; its tensors are new handles (clones) owned by the caller. */
  stateDict(): StateTree;
  /**
   * Replaces the state with a tree from {@linkcode Stateful.stateDict} (of this kind of object). Does not take
   * ownership of the tree's tensors (it copies or clones what it keeps).
   * @throws {TypeError | RangeError} when the tree is not such a state (naming what is wrong).
   */
  loadStateDict(state: StateTree): void;
}
