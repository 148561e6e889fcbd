/**
 * Fused kernels for the wasm backend (and so for blas, which is wasm with BLAS matmuls).
 *
 * Each kernel replaces a chain of stock tfjs kernels (one pass and one engine call instead of several), works on
 * `Float32Array` views of the wasm heap (like the `UnsortedSegmentSum` fix in `wasm_patches.ts`), and where a
 * transcendental function is needed calls the backend's own SIMD `Sigmoid` / `Softmax` kernel functions on heap
 * scratch buffers (plain JS `Math.tanh` / `Math.exp` are 5-10x slower per element than those).
 *
 * The kernels are registered under new names (`Memtrain*`, see {@linkcode FUSED_KERNELS}) and have no tfjs gradient:
 * callers (`lib/nn/_fused.ts`, the Adam optimizers) use them only when {@linkcode fusedKernelsActive} says so (wasm
 * backend, no gradient tape recording) and otherwise run the equivalent stock tfjs ops, which remain the oracle for
 * `tf.grads` checks. Set `MEMTRAIN_FUSED=0` (or call {@linkcode setFusedKernels}) to use the stock ops everywhere.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { heapOffset, setFusedSimdFlag, simdFor } from "./heap.ts";
import { type SimdKernels, simdKernels } from "./simd.ts";
import { mesaKernelFuncs } from "./fused_mesa.ts";

/** The names the fused kernels are registered under (backend "wasm"). */
export const FUSED_KERNELS = {
  /** `{x} -> gelu(x)` (tanh form). */
  gelu: "MemtrainGelu",
  /** `{x, dy} -> dy·gelu'(x)`. */
  geluGrad: "MemtrainGeluGrad",
  /** `{x [N,D], g [D], b [D]}`, attrs `{eps}` -> `[y [N,D], mean [N,1], rstd [N,1]]`. */
  layerNorm: "MemtrainLayerNorm",
  /** `{dy, x, mean, rstd, g}` -> `[dx [N,D], dg [D], db [D]]`. */
  layerNormGrad: "MemtrainLayerNormGrad",
  /** `{x [..., T, T]}`, attrs `{scale, causal}` -> `softmax(x·scale + causal mask)` over the last axis. */
  scaledSoftmax: "MemtrainScaledSoftmax",
  /** `{p, dp}`, attrs `{scale}` -> `scale·p·(dp − Σ dp·p)` over the last axis. */
  softmaxGrad: "MemtrainSoftmaxGrad",
  /** `{x [B, T, P·H·dh]}`, attrs `{heads, parts}` -> P tensors `[B, H, T, dh]`. */
  splitHeads: "MemtrainSplitHeads",
  /** `{x0, ..., x(P-1)}` each `[B, H, T, dh]` (or `[B·H, T, dh]`), attrs `{batch, heads}` -> `[B, T, P·H·dh]`. */
  mergeHeads: "MemtrainMergeHeads",
  /** `{x [N, C]}` -> `[C]`, the sum over rows (as the product `ones[1, N]·x`). */
  columnSum: "MemtrainColumnSum",
  /** `{wte [V, D], wpe [P, D], ids [N] int32}`, attrs `{t}` -> `[N, D]`: `wte[ids[i]] + wpe[i mod t]`. */
  embed: "MemtrainEmbed",
  /** `{z [N, C], t [N] int32}` -> `[probs [N, C], nll [N]]` (softmax cross-entropy per row). */
  softmaxXent: "MemtrainSoftmaxXent",
  /** `{probs [N, C], t [N] int32}`, attrs `{scale}` -> `(probs − onehot(t))·scale`. */
  softmaxXentGrad: "MemtrainSoftmaxXentGrad",
  /**
   * `{g, m, v[, p]}`, attrs `{b1, b2, stepScale, epsHat, scale, wd}` -> `[m', v', u]` with `m' = b1·m + (1−b1)·g`,
   * `v' = b2·v + (1−b2)·g²`, `u = scale·(stepScale·m' / (√v' + epsHat) + wd·p)` (`p` only when `wd ≠ 0`).
   */
  adam: "MemtrainAdam",
} as const;

interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: unknown, force?: boolean): boolean;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

const ENABLED = Symbol.for("memtrain.fusedKernels");
const REGISTERED = Symbol.for("memtrain.fusedKernelsRegistered");
const globals = globalThis as Record<symbol, boolean | undefined>;

function envDisabled(): boolean {
  try {
    return Deno.env.get("MEMTRAIN_FUSED") === "0";
  } catch {
    return false; // no --allow-env
  }
}

/**
 * Turns the fused kernels on or off process-wide (on by default unless `MEMTRAIN_FUSED=0`); off, every caller runs
 * the stock tfjs ops. Returns the previous setting. For A/B tests and benchmarks.
 *
 * @example Usage
 * ```ts ignore
 * const before = setFusedKernels(false);
 * try { runStep(); } finally { setFusedKernels(before); }
 * ```
 */
export function setFusedKernels(enabled: boolean): boolean {
  const previous = fusedKernelsEnabled();
  globals[ENABLED] = enabled;
  return previous;
}

/**
 * Lets the fused kernels use their WebAssembly SIMD loops (`simd.ts`) where shapes allow (on by default), or forces
 * their plain JS loops. Returns the previous setting. For tests that compare the two.
 */
export function setFusedSimd(enabled: boolean): boolean {
  return setFusedSimdFlag(enabled);
}

/** The setting of {@linkcode setFusedKernels}. */
export function fusedKernelsEnabled(): boolean {
  if (globals[ENABLED] === undefined) globals[ENABLED] = !envDisabled();
  return globals[ENABLED]!;
}

interface EngineLike {
  backendName: string;
  isTapeOn(): boolean;
}

/**
 * True when callers should use the fused kernels now: they are enabled and registered, the active backend is wasm
 * (wasm or blas), and no gradient tape is recording (the kernels have no tfjs gradients: under `tf.grads` the stock
 * ops run, so tfjs autodiff stays an independent oracle).
 */
export function fusedKernelsActive(): boolean {
  if (!globals[REGISTERED] || !fusedKernelsEnabled()) return false;
  const engine = tf.engine() as unknown as EngineLike;
  return engine.backendName === "wasm" && !engine.isTapeOn();
}

/** Runs a fused kernel through the engine (tracked, profiled and tidied like any tfjs op). */
export function runFused<T extends tf.Tensor | tf.Tensor[]>(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): T {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as T;
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel bodies. Views must be (re)taken after every allocation: makeOutput may grow the heap and detach old views.

const C_GELU = Math.sqrt(2 / Math.PI);
const A_GELU = 0.044715;
/** gelu(x) = 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), u = c·(x + a·x³): z = 2u = x·(K1 + K3·x²). */
const K1 = 2 * C_GELU, K3 = 2 * C_GELU * A_GELU;

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const simdByBackend = new WeakMap<object, SimdKernels | null>();

/** The SIMD loops on this backend's memory, or null (disabled, or no SIMD). */
function simdOf(be: WasmBackendLike): SimdKernels | null {
  return simdFor(be, simdByBackend, simdKernels);
}

const ptr = heapOffset;

function f32(be: WasmBackendLike, t: tf.TensorInfo): Float32Array {
  return be.typedArrayFromHeap(t) as Float32Array;
}

function i32(be: WasmBackendLike, t: tf.TensorInfo): Int32Array {
  return be.typedArrayFromHeap(t) as Int32Array;
}

/** The whole heap as floats, for `copyWithin` (a memmove) between tensors. */
function heapF32(be: WasmBackendLike): Float32Array {
  return new Float32Array(be.wasm.HEAPU8.buffer);
}

/** A float32 tensor's first element in {@linkcode heapF32}. */
function at(be: WasmBackendLike, t: tf.TensorInfo): number {
  return be.dataIdMap.get(t.dataId).memoryOffset >>> 2;
}

function checkFloat(kernel: string, inputs: Record<string, tf.TensorInfo | undefined>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t && t.dtype !== "float32") {
      throw new TypeError(`${kernel}: input '${name}' must be float32: current dtype is ${t.dtype}`);
    }
  }
}

function checkSameSize(kernel: string, a: tf.TensorInfo, b: tf.TensorInfo, what: string): void {
  if (size(a.shape) !== size(b.shape)) {
    throw new TypeError(`${kernel}: ${what} must have the same size: current shapes [${a.shape}] and [${b.shape}]`);
  }
}

interface StockKernels {
  sigmoid: tf.KernelFunc;
  softmax: tf.KernelFunc;
}

/** `sigmoid(z)` for `z` computed by `fill` into a scratch buffer shaped like `like`; returns the sigmoid output. */
function sigmoidOf(
  args: KernelArgs,
  stock: StockKernels,
  like: tf.TensorInfo,
  fill: (z: Float32Array) => void,
): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const z = be.makeOutput(like.shape.slice(), "float32");
  fill(f32(be, z));
  const s = stock.sigmoid({ inputs: { x: z }, attrs: {}, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(z.dataId);
  return s;
}

function geluKernel(args: KernelArgs, stock: StockKernels): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  checkFloat(FUSED_KERNELS.gelu, { x });
  const sk = simdOf(be);
  if (sk) {
    const y = be.makeOutput(x.shape.slice(), "float32");
    const n = size(x.shape), n4 = n >>> 2;
    sk.gelu(ptr(be, x), ptr(be, y), n4);
    const xv = f32(be, x), yv = f32(be, y);
    for (let i = 4 * n4; i < n; i++) {
      const v = xv[i];
      yv[i] = v / (1 + Math.exp(-v * (K1 + K3 * v * v)));
    }
    return y;
  }
  const s = sigmoidOf(args, stock, x, (z) => {
    const xv = f32(be, x);
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i];
      z[i] = v * (K1 + K3 * v * v);
    }
  });
  const xv = f32(be, x), sv = f32(be, s);
  for (let i = 0; i < sv.length; i++) sv[i] = xv[i] * sv[i];
  return s;
}

function geluGradKernel(args: KernelArgs, stock: StockKernels): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
  checkFloat(FUSED_KERNELS.geluGrad, { x, dy });
  checkSameSize(FUSED_KERNELS.geluGrad, x, dy, "x and dy");
  const sk = simdOf(be);
  if (sk) {
    const dx = be.makeOutput(dy.shape.slice(), "float32");
    const n = size(x.shape), n4 = n >>> 2;
    sk.geluGrad(ptr(be, x), ptr(be, dy), ptr(be, dx), n4);
    const xv = f32(be, x), dv = f32(be, dy), ov = f32(be, dx);
    for (let i = 4 * n4; i < n; i++) {
      const v = xv[i], si = 1 / (1 + Math.exp(-v * (K1 + K3 * v * v)));
      ov[i] = dv[i] * (si + v * si * (1 - si) * (K1 + 3 * K3 * v * v));
    }
    return dx;
  }
  const s = sigmoidOf(args, stock, dy, (z) => {
    const xv = f32(be, x);
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i];
      z[i] = v * (K1 + K3 * v * v);
    }
  });
  // d/dx [x·s(z)] = s + x·s·(1 − s)·z'(x), z' = K1 + 3·K3·x².
  const xv = f32(be, x), dv = f32(be, dy), sv = f32(be, s);
  for (let i = 0; i < sv.length; i++) {
    const v = xv[i], si = sv[i];
    sv[i] = dv[i] * (si + v * si * (1 - si) * (K1 + 3 * K3 * v * v));
  }
  return s;
}

function rowsOf(kernel: string, x: tf.TensorInfo): [number, number] {
  const d = x.shape[x.shape.length - 1] ?? 1;
  if (x.shape.length < 1 || d === 0) throw new TypeError(`${kernel}: expected a non-empty last axis: [${x.shape}]`);
  return [size(x.shape) / d, d];
}

function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const be = args.backend as unknown as WasmBackendLike;
  const { x, g, b } = args.inputs as Record<string, tf.TensorInfo>;
  const { eps } = args.attrs as unknown as { eps: number };
  checkFloat(FUSED_KERNELS.layerNorm, { x, g, b });
  const [n, d] = rowsOf(FUSED_KERNELS.layerNorm, x);
  if (size(g.shape) !== d || size(b.shape) !== d) {
    throw new TypeError(`${FUSED_KERNELS.layerNorm}: g and b must have ${d} elements: [${g.shape}], [${b.shape}]`);
  }
  const y = be.makeOutput(x.shape.slice(), "float32");
  const mean = be.makeOutput([n, 1], "float32"), rstd = be.makeOutput([n, 1], "float32");
  const sk = d % 4 === 0 ? simdOf(be) : null;
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
  const be = args.backend as unknown as WasmBackendLike;
  const { dy, x, mean, rstd, g } = args.inputs as Record<string, tf.TensorInfo>;
  checkFloat(FUSED_KERNELS.layerNormGrad, { dy, x, mean, rstd, g });
  const [n, d] = rowsOf(FUSED_KERNELS.layerNormGrad, x);
  checkSameSize(FUSED_KERNELS.layerNormGrad, x, dy, "x and dy");
  if (size(mean.shape) !== n || size(rstd.shape) !== n || size(g.shape) !== d) {
    throw new TypeError(`${FUSED_KERNELS.layerNormGrad}: mean/rstd must have ${n} elements and g ${d}`);
  }
  const dx = be.makeOutput(dy.shape.slice(), "float32");
  const dg = be.makeOutput([d], "float32"), db = be.makeOutput([d], "float32");
  const sk = d % 4 === 0 ? simdOf(be) : null;
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

/** Additive causal mask value, as in the stock attention path (`-1e9` above the diagonal). */
const MASKED = -1e9;

function scaledSoftmaxKernel(args: KernelArgs, stock: StockKernels): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  const { causal } = args.attrs as unknown as { causal: boolean };
  const scale = Math.fround((args.attrs as unknown as { scale: number }).scale); // stock: a float32 scalar
  checkFloat(FUSED_KERNELS.scaledSoftmax, { x });
  const r = x.shape.length, s = x.shape[r - 1], t = x.shape[r - 2];
  if (r < 2 || (causal && s !== t)) {
    throw new TypeError(`${FUSED_KERNELS.scaledSoftmax}: expected [..., T, T] scores: current shape is [${x.shape}]`);
  }
  const z = be.makeOutput(x.shape.slice(), "float32");
  const rows = size(x.shape) / s;
  const sk = s % 4 === 0 ? simdOf(be) : null;
  if (sk) {
    sk.scaleMask(ptr(be, x), ptr(be, z), rows, t, s / 4, scale, causal ? 1 : 0);
  } else {
    const xv = f32(be, x), zv = f32(be, z);
    for (let row = 0, o = 0; row < rows; row++, o += s) {
      const last = causal ? row % t : s - 1; // last unmasked column
      for (let j = 0; j <= last; j++) zv[o + j] = xv[o + j] * scale;
      for (let j = last + 1; j < s; j++) zv[o + j] = Math.fround(xv[o + j] * scale) + MASKED;
    }
  }
  const p = stock.softmax({ inputs: { logits: z }, attrs: { dim: r - 1 }, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(z.dataId);
  return p;
}

function softmaxGradKernel(args: KernelArgs): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const { p, dp } = args.inputs as Record<string, tf.TensorInfo>;
  const { scale } = args.attrs as unknown as { scale: number };
  checkFloat(FUSED_KERNELS.softmaxGrad, { p, dp });
  checkSameSize(FUSED_KERNELS.softmaxGrad, p, dp, "p and dp");
  const [rows, s] = rowsOf(FUSED_KERNELS.softmaxGrad, dp);
  const ds = be.makeOutput(dp.shape.slice(), "float32");
  const sk = s % 4 === 0 ? simdOf(be) : null;
  if (sk) {
    sk.softmaxGrad(ptr(be, p), ptr(be, dp), ptr(be, ds), rows, s / 4, scale);
    return ds;
  }
  const pv = f32(be, p), dpv = f32(be, dp), dsv = f32(be, ds);
  for (let row = 0, o = 0; row < rows; row++, o += s) {
    let dot = 0;
    for (let j = 0; j < s; j++) dot += dpv[o + j] * pv[o + j];
    const d32 = Math.fround(dot);
    for (let j = 0; j < s; j++) dsv[o + j] = scale * pv[o + j] * (dpv[o + j] - d32);
  }
  return ds;
}

function splitHeadsKernel(args: KernelArgs): tf.TensorInfo[] {
  const be = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  const { heads, parts } = args.attrs as unknown as { heads: number; parts: number };
  checkFloat(FUSED_KERNELS.splitHeads, { x });
  const [b, t, w] = x.shape;
  if (x.shape.length !== 3 || w % (heads * parts) !== 0) {
    throw new TypeError(
      `${FUSED_KERNELS.splitHeads}: expected [B, T, ${parts}·${heads}·dh]: current shape is [${x.shape}]`,
    );
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
  const be = args.backend as unknown as WasmBackendLike;
  const { batch: b, heads } = args.attrs as unknown as { batch: number; heads: number };
  const xs: tf.TensorInfo[] = [];
  for (let p = 0; args.inputs[`x${p}`] !== undefined; p++) xs.push(args.inputs[`x${p}`] as tf.TensorInfo);
  if (xs.length === 0) throw new TypeError(`${FUSED_KERNELS.mergeHeads}: no inputs (x0, x1, ...)`);
  const first = xs[0], r = first.shape.length;
  const t = first.shape[r - 2], dh = first.shape[r - 1];
  for (const x of xs) {
    checkFloat(FUSED_KERNELS.mergeHeads, { x });
    const rx = x.shape.length;
    if (size(x.shape) !== b * heads * t * dh || x.shape[rx - 1] !== dh || x.shape[rx - 2] !== t) {
      throw new TypeError(`${FUSED_KERNELS.mergeHeads}: expected [${b}, ${heads}, T, dh] inputs: [${x.shape}]`);
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

/** Column sums as one matrix product `ones[1, N]·x` (BLAS on blas, XNNPACK on wasm): 3-5x faster than a JS loop. */
function columnSumKernel(args: KernelArgs): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  checkFloat(FUSED_KERNELS.columnSum, { x });
  if (x.shape.length !== 2) {
    throw new TypeError(`${FUSED_KERNELS.columnSum}: expected a 2-D input: current shape is [${x.shape}]`);
  }
  const [n, c] = x.shape;
  if (n === 0) {
    const out = be.makeOutput([c], "float32");
    f32(be, out).fill(0);
    return out;
  }
  const ones = be.makeOutput([1, n], "float32");
  f32(be, ones).fill(1);
  const matMul = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc; // whatever is registered now: BLAS on blas
  const attrs = { transposeA: false, transposeB: false };
  const out = matMul({ inputs: { a: ones, b: x }, attrs, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(ones.dataId);
  return { dataId: out.dataId, shape: [c], dtype: "float32" };
}

function embedKernel(args: KernelArgs): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const { wte, wpe, ids } = args.inputs as Record<string, tf.TensorInfo>;
  const { t } = args.attrs as unknown as { t: number };
  checkFloat(FUSED_KERNELS.embed, { wte, wpe });
  const [vocab, d] = wte.shape;
  const n = size(ids.shape);
  if (ids.dtype !== "int32" || wpe.shape[1] !== d || t > wpe.shape[0] || (t > 0 && n % t !== 0)) {
    throw new TypeError(
      `${FUSED_KERNELS.embed}: bad inputs wte [${wte.shape}], wpe [${wpe.shape}], ids [${ids.shape}] ${ids.dtype}, t ${t}`,
    );
  }
  const bad = i32(be, ids).findIndex((id) => !(id >= 0 && id < vocab));
  if (bad >= 0) {
    const id = i32(be, ids)[bad];
    throw new RangeError(`${FUSED_KERNELS.embed}: token id ${id} at position ${bad} is not in [0, ${vocab - 1}]`);
  }
  const out = be.makeOutput([n, d], "float32");
  const tv = f32(be, wte), pv = f32(be, wpe), iv = i32(be, ids), ov = f32(be, out);
  for (let i = 0; i < n; i++) {
    const src = iv[i] * d, pos = (i % t) * d, dst = i * d;
    for (let j = 0; j < d; j++) ov[dst + j] = tv[src + j] + pv[pos + j];
  }
  return out;
}

/** Below this probability, `−log p` loses accuracy in float32: such rows get an exact float64 log-sum-exp. */
const TINY_PROB = 1e-30;

function softmaxXentKernel(args: KernelArgs, stock: StockKernels): tf.TensorInfo[] {
  const be = args.backend as unknown as WasmBackendLike;
  const { z, t } = args.inputs as Record<string, tf.TensorInfo>;
  checkFloat(FUSED_KERNELS.softmaxXent, { z });
  const [n, c] = rowsOf(FUSED_KERNELS.softmaxXent, z);
  if (t.dtype !== "int32" || size(t.shape) !== n) {
    throw new TypeError(`${FUSED_KERNELS.softmaxXent}: targets must be ${n} int32 values: [${t.shape}] ${t.dtype}`);
  }
  const probs = stock.softmax({ inputs: { logits: z }, attrs: { dim: z.shape.length - 1 }, backend: args.backend });
  const nll = be.makeOutput([n], "float32");
  const pv = f32(be, probs as tf.TensorInfo), zv = f32(be, z), tv = i32(be, t), nv = f32(be, nll);
  for (let r = 0, o = 0; r < n; r++, o += c) {
    const y = tv[r];
    if (!(y >= 0 && y < c)) { // tf.oneHot gives an all-zero row: no loss term, no gradient term
      nv[r] = 0;
      continue;
    }
    const py = pv[o + y];
    if (py > TINY_PROB) {
      nv[r] = -Math.log(py);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, zv[o + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(zv[o + j] - max);
    nv[r] = max + Math.log(s) - zv[o + y];
  }
  return [probs as tf.TensorInfo, nll];
}

function softmaxXentGradKernel(args: KernelArgs): tf.TensorInfo {
  const be = args.backend as unknown as WasmBackendLike;
  const { probs, t } = args.inputs as Record<string, tf.TensorInfo>;
  const { scale } = args.attrs as unknown as { scale: number };
  checkFloat(FUSED_KERNELS.softmaxXentGrad, { probs });
  const [n, c] = rowsOf(FUSED_KERNELS.softmaxXentGrad, probs);
  if (t.dtype !== "int32" || size(t.shape) !== n) {
    throw new TypeError(`${FUSED_KERNELS.softmaxXentGrad}: targets must be ${n} int32 values: [${t.shape}]`);
  }
  const g = be.makeOutput(probs.shape.slice(), "float32");
  const pv = f32(be, probs), tv = i32(be, t), gv = f32(be, g);
  for (let i = 0; i < pv.length; i++) gv[i] = pv[i] * scale;
  for (let r = 0; r < n; r++) {
    const y = tv[r];
    if (y >= 0 && y < c) gv[r * c + y] = (pv[r * c + y] - 1) * scale;
  }
  return g;
}

function adamKernel(args: KernelArgs): tf.TensorInfo[] {
  const be = args.backend as unknown as WasmBackendLike;
  const { g, m, v, p } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { b1, b2, stepScale, epsHat, scale, wd } = args.attrs as unknown as Record<string, number>;
  checkFloat(FUSED_KERNELS.adam, { g, m, v, p });
  const needed: [string, tf.TensorInfo | undefined][] = [["g", g], ["m", m], ["v", v]];
  if (wd !== 0) needed.push(["p", p]);
  for (const [name, t] of needed) {
    if (!t) throw new TypeError(`${FUSED_KERNELS.adam}: input '${name}' is required`);
    checkSameSize(FUSED_KERNELS.adam, g!, t, `g and ${name}`);
  }
  const shape = g!.shape.slice();
  const m2 = be.makeOutput(shape, "float32"), v2 = be.makeOutput(shape, "float32");
  const u = be.makeOutput(shape, "float32");
  const c1 = 1 - b1, c2 = 1 - b2;
  const sk = simdOf(be);
  let start = 0;
  if (sk) {
    const n4 = size(shape) >>> 2;
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

/**
 * Registers the fused kernels for the wasm backend. Idempotent; needs the wasm backend imported (its `Sigmoid` and
 * `Softmax` kernels are used). Called by `patchWasm`.
 */
export function registerFusedKernels(): void {
  if (globals[REGISTERED]) return;
  const sigmoid = tf.getKernel("Sigmoid", "wasm"), softmax = tf.getKernel("Softmax", "wasm");
  if (!sigmoid || !softmax) {
    throw new Error("Cannot register the fused kernels: the wasm backend is not loaded (import it first)");
  }
  const stock: StockKernels = { sigmoid: sigmoid.kernelFunc, softmax: softmax.kernelFunc };
  const kernels: [string, tf.KernelFunc][] = [
    [FUSED_KERNELS.gelu, (a) => geluKernel(a, stock)],
    [FUSED_KERNELS.geluGrad, (a) => geluGradKernel(a, stock)],
    [FUSED_KERNELS.layerNorm, layerNormKernel],
    [FUSED_KERNELS.layerNormGrad, layerNormGradKernel],
    [FUSED_KERNELS.scaledSoftmax, (a) => scaledSoftmaxKernel(a, stock)],
    [FUSED_KERNELS.softmaxGrad, softmaxGradKernel],
    [FUSED_KERNELS.splitHeads, splitHeadsKernel],
    [FUSED_KERNELS.mergeHeads, mergeHeadsKernel],
    [FUSED_KERNELS.columnSum, columnSumKernel],
    [FUSED_KERNELS.embed, embedKernel],
    [FUSED_KERNELS.softmaxXent, (a) => softmaxXentKernel(a, stock)],
    [FUSED_KERNELS.softmaxXentGrad, softmaxXentGradKernel],
    [FUSED_KERNELS.adam, adamKernel],
    ...mesaKernelFuncs(),
  ];
  for (const [kernelName, kernelFunc] of kernels) {
    if (tf.getKernel(kernelName, "wasm") !== undefined) tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  }
  globals[REGISTERED] = true;
}
