/**
 * The one op MeZO computes with: `axpz(θ, a, c, key, kind) = a·θ + c·z(key)`, a new float32 tensor, registered with
 * the kernel registry (`lib/backend/registry.ts`, group `"mezo"`). On wasm/blas the fused kernel writes the result
 * straight into a new heap buffer from θ's (the SIMD loops of `simd.ts`, the last < 8 elements with the definition
 * in JS), so a perturbed or updated tensor costs exactly its own bytes; elsewhere (the cpu backend, or the group
 * switched off) the stock path runs the definition (`axpzInto`) on a copy of θ's data. Both give the same bits.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkDtype, f32, heapOffset, type KernelArgs, sizeOf, wasmOf } from "../backend/heap.ts";
import { type FusedOp, fusedOp } from "../backend/registry.ts";
import { axpzInto, type NoiseKind } from "./noise.ts";
import { mezoSimd } from "./simd.ts";

/** The scalars of {@linkcode axpz}. */
export interface AxpzAttrs {
  /** Multiplier of θ (1 for a perturbation; `1 − lr·wd` for an update). */
  a: number;
  /** Multiplier of z (`±ε` for a perturbation; `−lr·g` for an update). */
  c: number;
  /** The tensor's noise key (`noiseKey(seed, name)`). */
  key: number;
  /** The distribution of z. */
  kind: NoiseKind;
}

const NAME = "MemtrainMezoAxpz";

function axpzKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo;
  checkDtype(NAME, { x });
  const { a, c, key, kind } = args.attrs as unknown as AxpzAttrs;
  const out = be.makeOutput(x.shape.slice(), "float32");
  const n = sizeOf(x.shape);
  const loops = mezoSimd(be);
  let done = 0;
  if (loops) {
    const xo = heapOffset(be, x), oo = heapOffset(be, out);
    if (kind === "gaussian") {
      const blocks = n >>> 3;
      loops.mezoAxpzGauss(xo, oo, blocks, a, c, key);
      done = blocks << 3;
    } else {
      const vectors = n >>> 2;
      loops.mezoAxpzSign(xo, oo, vectors, a, c, key);
      done = vectors << 2;
    }
  }
  if (done < n) axpzInto(f32(be, out), f32(be, x), a, c, key, kind, done, n); // views taken after makeOutput
  return out;
}

/**
 * The stock path of {@linkcode axpz} on any backend: the definition (`axpzInto`) on a copy of θ's data.
 *
 * @example Usage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { axpz, axpzStock } from "./kernel.ts";
 *
 * const theta = tf.ones([10]);
 * const attrs = { a: 1, c: 1e-3, key: 3, kind: "gaussian" as const };
 * const [a, b] = [axpz(theta, attrs), axpzStock(theta, attrs)]; // the same bits
 * tf.dispose([theta, a, b]);
 * ```
 */
export function axpzStock(theta: tf.Tensor, attrs: AxpzAttrs): tf.Tensor {
  if (theta.dtype !== "float32") {
    throw new TypeError(`${NAME}: input 'x' must be float32: current dtype is ${theta.dtype}`);
  }
  const v = theta.dataSync() as Float32Array;
  const out = new Float32Array(v.length);
  axpzInto(out, v, attrs.a, attrs.c, attrs.key, attrs.kind);
  return tf.tensor(out, theta.shape, "float32");
}

/**
 * `a·θ + c·z(key)` as a new float32 tensor shaped like `theta` (which is not disposed): element `i` is
 * `fround(fround(a·θᵢ) + fround(c·zᵢ))` (`axpzInto`, the definition), on every backend.
 *
 * @example θ − ε·z
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { axpz } from "./kernel.ts";
 * import { noiseKey } from "./noise.ts";
 *
 * const theta = tf.ones([3]);
 * const minus = axpz(theta, { a: 1, c: -1e-3, key: noiseKey(0, "w"), kind: "gaussian" });
 * console.log(minus.dataSync()); // three values near 1
 * tf.dispose([theta, minus]);
 * ```
 */
export const axpz: FusedOp<[tf.Tensor, AxpzAttrs], tf.Tensor> = fusedOp({
  name: NAME,
  group: "mezo",
  kernel: () => axpzKernel as unknown as tf.KernelFunc,
  fused: (run, theta: tf.Tensor, attrs: AxpzAttrs) => run<tf.Tensor>({ x: theta }, { ...attrs }),
  stock: axpzStock,
  accepts: (theta: tf.Tensor) => theta.dtype === "float32",
});
