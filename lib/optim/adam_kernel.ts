/**
 * The Adam update as one fused op, `MemtrainAdam` `{g, m, v[, p]}`, attrs `{b1, b2, stepScale, epsHat, scale, wd}` ->
 * `[m', v', u]` with `m' = b1·m + (1−b1)·g`, `v' = b2·v + (1−b2)·g²`, `u = scale·(stepScale·m' / (√v' + epsHat) + wd·p)`
 * (`p` only when `wd ≠ 0`), and its stock tfjs ops (the same steps as the `scaleByAdam` → `addDecayedWeights` →
 * `scaleByLearningRate` chain). {@linkcode adamBiasCorrection} is the one definition of `stepScale` and `epsHat`.
 *
 * The kernel runs a SIMD loop over whole vectors and JS loops for the tail (or everything, without SIMD).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../backend/registry.ts";
import {
  checkDtype,
  checkSameSize,
  f32,
  heapOffset as ptr,
  type KernelArgs,
  simdLoops,
  sizeOf,
  wasmOf,
} from "../backend/heap.ts";
import { F32, Fn, forLoop, I, I32, V128, vaddr } from "../backend/wasm_asm.ts";

/** The kernel name (backend "wasm"). */
export const ADAM_KERNEL = "MemtrainAdam";

/**
 * Adam's bias correction at step `count` (1-based), defined once for the stock and the fused update: the update
 * `mû / (√nû + eps)` with `mû = mu / (1 − b1^t)`, `nû = nu / (1 − b2^t)` equals `stepScale·mu / (√nu + epsHat)` with
 * `stepScale = √(1 − b2^t) / (1 − b1^t)` and `epsHat = eps·√(1 − b2^t)` (fewer elementwise ops).
 *
 * @example Usage
 * ```ts
 * import { adamBiasCorrection } from "./adam_kernel.ts";
 * const { stepScale, epsHat } = adamBiasCorrection(0.9, 0.999, 1e-8, 1); // stepScale = √0.001 / 0.1
 * ```
 */
export function adamBiasCorrection(
  b1: number,
  b2: number,
  eps: number,
  count: number,
): { stepScale: number; epsHat: number } {
  const sqrtBc2 = Math.sqrt(1 - b2 ** count);
  return { stepScale: sqrtBc2 / (1 - b1 ** count), epsHat: eps * sqrtBc2 };
}

/** The attributes of one Adam update. */
export interface AdamAttrs {
  b1: number;
  b2: number;
  stepScale: number;
  epsHat: number;
  /** Multiplies the update (1, or `−lr` for a whole adam/adamw step). */
  scale: number;
  /** Decoupled weight decay (0: `p` is not read). */
  wd: number;
}

/**
 * adam(g, m, v, p, m2, v2, u, n4, b1, b2, c1, c2, k, epsHat, kw): m2 = b1·m + c1·g, v2 = b2·v + c2·g²,
 * u = k·m2 / (√v2 + epsHat) + kw·p (p is read only when kw ≠ 0).
 */
function adamFn(): Fn {
  const f = new Fn("adam", [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32]);
  const [g, m, v, p, m2, v2, u, n, b1, b2, c1, c2, kk, eps, kw] = [...Array(15).keys()];
  const i = f.local(I32), gv = f.local(V128), mv = f.local(V128), vv = f.local(V128);
  const B1 = f.local(V128), B2 = f.local(V128), C1 = f.local(V128), C2 = f.local(V128);
  const KK = f.local(V128), EPS = f.local(V128), KW = f.local(V128), decay = f.local(I32);
  for (const [src, dst] of [[b1, B1], [b2, B2], [c1, C1], [c2, C2], [kk, KK], [eps, EPS], [kw, KW]]) {
    f.emit(I.get(src), I.splat, I.set(dst));
  }
  f.emit(I.get(kw), I.f32(0), I.f32Ne, I.set(decay));
  forLoop(f, i, n, () => {
    vaddr(f, g, i);
    f.emit(I.load(), I.set(gv));
    // m2 = b1·m + c1·g
    vaddr(f, m, i);
    f.emit(I.load(), I.get(B1), I.mul, I.get(gv), I.get(C1), I.mul, I.add, I.set(mv));
    // v2 = b2·v + c2·g²
    vaddr(f, v, i);
    f.emit(I.load(), I.get(B2), I.mul, I.get(gv), I.get(gv), I.mul, I.get(C2), I.mul, I.add, I.set(vv));
    vaddr(f, m2, i);
    f.emit(I.get(mv), I.store());
    vaddr(f, v2, i);
    f.emit(I.get(vv), I.store());
    // u = k·m2 / (√v2 + eps)
    f.emit(I.get(KK), I.get(mv), I.mul, I.get(vv), I.sqrt, I.get(EPS), I.add, I.div, I.set(gv));
    f.emit(I.get(decay), I.if);
    vaddr(f, p, i);
    f.emit(I.load(), I.get(KW), I.mul, I.get(gv), I.add, I.set(gv), I.end);
    vaddr(f, u, i);
    f.emit(I.get(gv), I.store());
  });
  return f;
}

const adamSimd = simdLoops<{
  adam(
    g: number,
    m: number,
    v: number,
    p: number,
    m2: number,
    v2: number,
    u: number,
    n4: number,
    b1: number,
    b2: number,
    c1: number,
    c2: number,
    k: number,
    epsHat: number,
    kw: number,
  ): void;
}>(() => [adamFn()]);

function adamKernel(args: KernelArgs): tf.TensorInfo[] {
  const be = wasmOf(args);
  const { g, m, v, p } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { b1, b2, stepScale, epsHat, scale, wd } = args.attrs as unknown as AdamAttrs;
  checkDtype(ADAM_KERNEL, { g, m, v, p });
  const needed: [string, tf.TensorInfo | undefined][] = [["g", g], ["m", m], ["v", v]];
  if (wd !== 0) needed.push(["p", p]);
  for (const [name, t] of needed) {
    if (!t) throw new TypeError(`${ADAM_KERNEL}: input '${name}' is required`);
    checkSameSize(ADAM_KERNEL, g!, t, `g and ${name}`);
  }
  const shape = g!.shape.slice();
  const m2 = be.makeOutput(shape, "float32"), v2 = be.makeOutput(shape, "float32");
  const u = be.makeOutput(shape, "float32");
  const c1 = 1 - b1, c2 = 1 - b2;
  const sk = adamSimd(be);
  let start = 0;
  if (sk) {
    const n4 = sizeOf(shape) >>> 2;
    const [pg, pm, pv, pp] = [g!, m!, v!, wd !== 0 ? p! : g!].map((t) => ptr(be, t));
    sk.adam(
      pg,
      pm,
      pv,
      pp,
      ptr(be, m2),
      ptr(be, v2),
      ptr(be, u),
      n4,
      b1,
      b2,
      c1,
      c2,
      scale * stepScale,
      epsHat,
      scale * wd,
    );
    start = 4 * n4; // the JS loops below finish the tail
  }
  const gv = f32(be, g!), mv = f32(be, m!), vv = f32(be, v!), m2v = f32(be, m2), v2v = f32(be, v2), uv = f32(be, u);
  if (wd === 0) {
    for (let i = start; i < gv.length; i++) {
      const gi = gv[i];
      const mi = Math.fround(b1 * mv[i] + c1 * gi), vi = Math.fround(b2 * vv[i] + c2 * gi * gi);
      m2v[i] = mi;
      v2v[i] = vi;
      uv[i] = scale * (stepScale * mi / (Math.sqrt(vi) + epsHat));
    }
  } else {
    const pv = f32(be, p!);
    for (let i = start; i < gv.length; i++) {
      const gi = gv[i];
      const mi = Math.fround(b1 * mv[i] + c1 * gi), vi = Math.fround(b2 * vv[i] + c2 * gi * gi);
      m2v[i] = mi;
      v2v[i] = vi;
      uv[i] = scale * (stepScale * mi / (Math.sqrt(vi) + epsHat) + wd * pv[i]);
    }
  }
  return [m2, v2, u];
}

/** True when the kernel can take these tensors (same-shaped live float32 tensors). */
export function adamFusable(...ts: (tf.Tensor | undefined)[]): boolean {
  const shape = ts[0]!.shape;
  return ts.every((t) =>
    t instanceof tf.Tensor && !t.isDisposed && t.dtype === "float32" && t.rank === shape.length &&
    t.shape.every((d, i) => d === shape[i])
  );
}

/**
 * One parameter's Adam update `[m', v', u]` (see the module doc): the fused kernel on wasm/blas (group `"optim"`),
 * else the stock ops `m' = m·b1 + g·(1−b1)`, `v' = v·b2 + g²·(1−b2)`, `u = ((m'·stepScale) / (√v' + epsHat) + p·wd)·scale`
 * (the decay and scale steps only when `wd ≠ 0`, `scale ≠ 1`), the chain's ops in the chain's order.
 */
export const adamUpdate = fusedOp({
  name: ADAM_KERNEL,
  group: "optim",
  kernel: () => adamKernel as unknown as tf.KernelFunc,
  accepts: (g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, p: tf.Tensor | undefined, a: AdamAttrs) =>
    adamFusable(g, m, v, ...(a.wd !== 0 ? [p] : [])),
  fused: (run, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, p: tf.Tensor | undefined, a: AdamAttrs) =>
    run<tf.Tensor[]>(a.wd !== 0 ? { g, m, v, p: p! } : { g, m, v }, { ...a }),
  stock: (g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, p: tf.Tensor | undefined, a: AdamAttrs) =>
    tf.tidy(() => {
      const m2 = tf.add(tf.mul(m, a.b1), tf.mul(g, 1 - a.b1));
      const v2 = tf.add(tf.mul(v, a.b2), tf.mul(tf.square(g), 1 - a.b2));
      let u = tf.div(tf.mul(m2, a.stepScale), tf.add(tf.sqrt(v2), a.epsHat));
      if (a.wd !== 0) u = tf.add(u, tf.mul(p!, a.wd));
      if (a.scale !== 1) u = tf.mul(u, a.scale);
      return [m2, v2, u];
    }),
});
