/**
 * LayerNorm over the rows of `[N, D]` as fused ops, with their stock tfjs ops:
 * - `MemtrainLayerNorm` `{x [N,D], g [D], b [D]}`, attrs `{eps}` -> `[y [N,D], mean [N,1], rstd [N,1]]`;
 * - `MemtrainLayerNormGrad` `{dy, x, mean, rstd, g}` -> `[dx [N,D], dg [D], db [D]]`.
 *
 * SIMD loops (`layernorm_simd.ts`) when D is a multiple of 4, else JS loops (float64 sums, float32 results).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import {
  checkDtype,
  checkSameSize,
  f32,
  heapOffset as ptr,
  type KernelArgs,
  rowsOf,
  sizeOf,
  wasmOf,
} from "../../backend/heap.ts";
import { layerNormSimd } from "./layernorm_simd.ts";

/** Kernel names (backend "wasm"). */
export const LAYER_NORM_KERNELS = { layerNorm: "MemtrainLayerNorm", layerNormGrad: "MemtrainLayerNormGrad" } as const;

function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const K = LAYER_NORM_KERNELS.layerNorm;
  const be = wasmOf(args);
  const { x, g, b } = args.inputs as Record<string, tf.TensorInfo>;
  const { eps } = args.attrs as unknown as { eps: number };
  checkDtype(K, { x, g, b });
  const [n, d] = rowsOf(K, x);
  if (sizeOf(g.shape) !== d || sizeOf(b.shape) !== d) {
    throw new TypeError(`${K}: g and b must have ${d} elements: [${g.shape}], [${b.shape}]`);
  }
  const y = be.makeOutput(x.shape.slice(), "float32");
  const mean = be.makeOutput([n, 1], "float32"), rstd = be.makeOutput([n, 1], "float32");
  const sk = d % 4 === 0 ? layerNormSimd(be) : null;
  if (sk) {
    sk.layerNorm(ptr(be, x), ptr(be, g), ptr(be, b), ptr(be, y), ptr(be, mean), ptr(be, rstd), n, d / 4, eps);
    return [y, mean, rstd];
  }
  const xv = f32(be, x), gv = f32(be, g), bv = f32(be, b), yv = f32(be, y), mv = f32(be, mean), rv = f32(be, rstd);
  for (let r = 0, o = 0; r < n; r++, o += d) {
    let s = 0;
    for (let j = 0; j < d; j++) s += xv[o + j];
    const mu = Math.fround(s / d);
    let q = 0;
    for (let j = 0; j < d; j++) {
      const c = xv[o + j] - mu;
      q += c * c;
    }
    const rs = Math.fround(1 / Math.sqrt(Math.fround(q / d) + eps));
    mv[r] = mu;
    rv[r] = rs;
    for (let j = 0; j < d; j++) yv[o + j] = (xv[o + j] - mu) * rs * gv[j] + bv[j];
  }
  return [y, mean, rstd];
}

function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const K = LAYER_NORM_KERNELS.layerNormGrad;
  const be = wasmOf(args);
  const { dy, x, mean, rstd, g } = args.inputs as Record<string, tf.TensorInfo>;
  checkDtype(K, { dy, x, mean, rstd, g });
  const [n, d] = rowsOf(K, x);
  checkSameSize(K, x, dy, "x and dy");
  if (sizeOf(mean.shape) !== n || sizeOf(rstd.shape) !== n || sizeOf(g.shape) !== d) {
    throw new TypeError(`${K}: mean/rstd must have ${n} elements and g ${d}`);
  }
  const dx = be.makeOutput(dy.shape.slice(), "float32");
  const dg = be.makeOutput([d], "float32"), db = be.makeOutput([d], "float32");
  const sk = d % 4 === 0 ? layerNormSimd(be) : null;
  if (sk) {
    f32(be, dg).fill(0);
    f32(be, db).fill(0);
    const [pdy, px, pm, pr, pg] = [dy, x, mean, rstd, g].map((t) => ptr(be, t));
    sk.layerNormGrad(pdy, px, pm, pr, pg, ptr(be, dx), ptr(be, dg), ptr(be, db), n, d / 4);
    return [dx, dg, db];
  }
  const dyv = f32(be, dy), xv = f32(be, x), mv = f32(be, mean), rv = f32(be, rstd), gv = f32(be, g);
  const dxv = f32(be, dx);
  const accG = new Float64Array(d), accB = new Float64Array(d);
  for (let r = 0, o = 0; r < n; r++, o += d) {
    const mu = mv[r], rs = rv[r];
    let m1 = 0, m2 = 0;
    for (let j = 0; j < d; j++) {
      const xh = (xv[o + j] - mu) * rs, dyj = dyv[o + j], dxh = dyj * gv[j];
      accG[j] += dyj * xh;
      accB[j] += dyj;
      m1 += dxh;
      m2 += dxh * xh;
    }
    m1 /= d;
    m2 /= d;
    for (let j = 0; j < d; j++) {
      const xh = (xv[o + j] - mu) * rs;
      dxv[o + j] = rs * (dyv[o + j] * gv[j] - m1 - xh * m2);
    }
  }
  f32(be, dg).set(accG);
  f32(be, db).set(accB);
  return [dx, dg, db];
}

const layerNormOp = fusedOp({
  name: LAYER_NORM_KERNELS.layerNorm,
  group: "nn",
  kernel: () => layerNormKernel as unknown as tf.KernelFunc,
  fused: (run, x2: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => {
    const [y, mean, rstd] = run<tf.Tensor[]>({ x: x2, g, b }, { eps });
    return { y, mean, rstd };
  },
  stock: (x2: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) =>
    tf.tidy(() => {
      const mean = x2.mean(1, true); // [N, 1]
      const xc = tf.sub(x2, mean);
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), 1, true), eps)); // [N, 1]
      const y = tf.add(tf.mul(tf.mul(xc, rstd), g), b);
      return { y, mean, rstd };
    }),
});

/** LayerNorm of the rows of `x2 [N, D]`: `y = (x − mean)·rstd·g + b`, with `mean`, `rstd` `[N, 1]`. */
export function layerNorm(
  x2: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
  eps: number,
): { y: tf.Tensor; mean: tf.Tensor; rstd: tf.Tensor } {
  return layerNormOp(x2, g, b, eps);
}

const layerNormGradOp = fusedOp({
  name: LAYER_NORM_KERNELS.layerNormGrad,
  group: "nn",
  kernel: () => layerNormGradKernel as unknown as tf.KernelFunc,
  fused: (run, dy2: tf.Tensor, x2: tf.Tensor, mean: tf.Tensor, rstd: tf.Tensor, g: tf.Tensor) => {
    const [dx, dg, db] = run<tf.Tensor[]>({ dy: dy2, x: x2, mean, rstd, g });
    return { dx, dg, db };
  },
  stock: (dy2: tf.Tensor, x2: tf.Tensor, mean: tf.Tensor, rstd: tf.Tensor, g: tf.Tensor) =>
    tf.tidy(() => {
      const xhat = tf.mul(tf.sub(x2, mean), rstd);
      const dg = tf.sum(tf.mul(dy2, xhat), 0);
      const db = tf.sum(dy2, 0);
      const dxhat = tf.mul(dy2, g);
      const m1 = tf.mean(dxhat, 1, true);
      const m2 = tf.mean(tf.mul(dxhat, xhat), 1, true);
      const dx = tf.mul(rstd, tf.sub(tf.sub(dxhat, m1), tf.mul(xhat, m2)));
      return { dx, dg, db };
    }),
});

/** LayerNorm backward: `dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·g`; `dg = Σ dy·x̂`, `db = Σ dy`. */
export function layerNormGrad(
  dy2: tf.Tensor,
  x2: tf.Tensor,
  mean: tf.Tensor,
  rstd: tf.Tensor,
  g: tf.Tensor,
): { dx: tf.Tensor; dg: tf.Tensor; db: tf.Tensor } {
  return layerNormGradOp(dy2, x2, mean, rstd, g);
}
