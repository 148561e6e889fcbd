/**
 * Attention head layout as fused ops (memmoves on the wasm heap), with their stock tfjs ops:
 * - `MemtrainSplitHeads` `{x [B, T, P·H·dh]}`, attrs `{heads, parts}` -> P tensors `[B, H, T, dh]`;
 * - `MemtrainMergeHeads` `{x0, ..., x(P-1)}` each `[B, H, T, dh]` (or `[B·H, T, dh]`), attrs `{batch, heads}` ->
 *   `[B, T, P·H·dh]`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import { checkDtype, heapF32, heapIndex as at, type KernelArgs, sizeOf, wasmOf } from "../../backend/heap.ts";

/** Kernel names (backend "wasm"). */
export const HEADS_KERNELS = { splitHeads: "MemtrainSplitHeads", mergeHeads: "MemtrainMergeHeads" } as const;

function splitHeadsKernel(args: KernelArgs): tf.TensorInfo[] {
  const K = HEADS_KERNELS.splitHeads;
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo;
  const { heads, parts } = args.attrs as unknown as { heads: number; parts: number };
  checkDtype(K, { x });
  const [b, t, w] = x.shape;
  if (x.shape.length !== 3 || w % (heads * parts) !== 0) {
    throw new TypeError(`${K}: expected [B, T, ${parts}·${heads}·dh]: current shape is [${x.shape}]`);
  }
  const dim = w / parts, dh = dim / heads;
  const outs = Array.from({ length: parts }, () => be.makeOutput([b, heads, t, dh], "float32"));
  const heap = heapF32(be), x0 = at(be, x), o0 = outs.map((o) => at(be, o));
  for (let bi = 0; bi < b; bi++) {
    for (let ti = 0; ti < t; ti++) {
      const row = x0 + (bi * t + ti) * w;
      for (let p = 0; p < parts; p++) {
        for (let h = 0; h < heads; h++) {
          const src = row + p * dim + h * dh, dst = o0[p] + ((bi * heads + h) * t + ti) * dh;
          heap.copyWithin(dst, src, src + dh);
        }
      }
    }
  }
  return outs;
}

function mergeHeadsKernel(args: KernelArgs): tf.TensorInfo {
  const K = HEADS_KERNELS.mergeHeads;
  const be = wasmOf(args);
  const { batch: b, heads } = args.attrs as unknown as { batch: number; heads: number };
  const xs: tf.TensorInfo[] = [];
  for (let p = 0; args.inputs[`x${p}`] !== undefined; p++) xs.push(args.inputs[`x${p}`] as tf.TensorInfo);
  if (xs.length === 0) throw new TypeError(`${K}: no inputs (x0, x1, ...)`);
  const first = xs[0], r = first.shape.length;
  const t = first.shape[r - 2], dh = first.shape[r - 1];
  for (const x of xs) {
    checkDtype(K, { x });
    const rx = x.shape.length;
    if (sizeOf(x.shape) !== b * heads * t * dh || x.shape[rx - 1] !== dh || x.shape[rx - 2] !== t) {
      throw new TypeError(`${K}: expected [${b}, ${heads}, T, dh] inputs: [${x.shape}]`);
    }
  }
  const parts = xs.length, dim = heads * dh, w = parts * dim;
  const out = be.makeOutput([b, t, w], "float32");
  const heap = heapF32(be), out0 = at(be, out), x0 = xs.map((x) => at(be, x));
  for (let bi = 0; bi < b; bi++) {
    for (let ti = 0; ti < t; ti++) {
      const row = out0 + (bi * t + ti) * w;
      for (let p = 0; p < parts; p++) {
        for (let h = 0; h < heads; h++) {
          const dst = row + p * dim + h * dh, src = x0[p] + ((bi * heads + h) * t + ti) * dh;
          heap.copyWithin(dst, src, src + dh);
        }
      }
    }
  }
  return out;
}

/** `x [B, T, P·H·dh]` -> P tensors `[B, H, T, dh]` (P = `parts`: 3 for a fused q/k/v projection). */
export const splitHeads = fusedOp({
  name: HEADS_KERNELS.splitHeads,
  group: "nn",
  kernel: () => splitHeadsKernel as unknown as tf.KernelFunc,
  fused: (run, x: tf.Tensor, heads: number, parts: number) => run<tf.Tensor4D[]>({ x }, { heads, parts }),
  stock: (x: tf.Tensor, heads: number, parts: number) => {
    const [b, t, w] = x.shape;
    return tf.tidy(() => {
      const all = x.reshape([b, t, parts * heads, w / (parts * heads)]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
      return parts === 1 ? [all] : tf.split(all, parts, 1) as tf.Tensor4D[];
    });
  },
});

/** The inverse of {@linkcode splitHeads}: P tensors `[B, H, T, dh]` (or `[B·H, T, dh]`) -> `[B, T, P·H·dh]`. */
export const mergeHeads = fusedOp({
  name: HEADS_KERNELS.mergeHeads,
  group: "nn",
  kernel: () => mergeHeadsKernel,
  fused: (run, xs: tf.Tensor[], batch: number, heads: number) => {
    const inputs: Record<string, tf.Tensor> = {};
    xs.forEach((x, i) => (inputs[`x${i}`] = x));
    return run<tf.Tensor>(inputs, { batch, heads }) as tf.Tensor3D;
  },
  stock: (xs: tf.Tensor[], batch: number, heads: number) => {
    const [t, dh] = xs[0].shape.slice(-2);
    return tf.tidy(() => {
      const four = xs.map((x) => x.reshape([batch, heads, t, dh]));
      const all = four.length === 1 ? four[0] : tf.concat(four, 1);
      return all.transpose([0, 2, 1, 3]).reshape([batch, t, xs.length * heads * dh]) as tf.Tensor3D;
    });
  },
});
