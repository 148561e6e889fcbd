/**
 * GELU (tanh form) and its gradient as fused ops: `MemtrainGelu` `{x} -> gelu(x)` and `MemtrainGeluGrad`
 * `{x, dy} -> dy·gelu'(x)`, with their stock tfjs ops.
 *
 * The fused kernels use `gelu(x) = 0.5·x·(1 + tanh(u)) = x·sigmoid(2u)`, `u = c·(x + a·x³)`: one pass computing
 * `z = 2u = x·(K1 + K3·x²)`, then either the SIMD loops below (their own f32x4 `exp`) or, as JS loops, the backend's
 * SIMD `Sigmoid` kernel on a heap scratch buffer (plain JS `Math.exp` is 5-10x slower per element).
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
  simdLoops,
  sizeOf,
  stockKernel,
  wasmOf,
} from "../../backend/heap.ts";
import { Fn, forLoop, I, I32, V128, vaddr, vconst, vexp } from "../../backend/wasm_asm.ts";

/** Kernel names (backend "wasm"). */
export const GELU_KERNELS = { gelu: "MemtrainGelu", geluGrad: "MemtrainGeluGrad" } as const;

const C_GELU = Math.sqrt(2 / Math.PI);
const A_GELU = 0.044715;
/** gelu(x) = x·sigmoid(z), z = x·(K1 + K3·x²). */
const K1 = 2 * C_GELU, K3 = 2 * C_GELU * A_GELU;

// ---------------------------------------------------------------------------------------------------------------
// SIMD loops.

/** Pushes `1 + exp(−z)` where z = x·(K1 + K3·x²) for the f32x4 in local `v` (sigmoid(z) is its reciprocal). */
function vGeluDenominator(f: Fn, v: number, z: number, t: number, k: number, u: number, r2: number): void {
  // z = -(x·(K1 + K3·x²)) so that exp(z) = exp(-zgelu)
  f.emit(I.get(v), I.get(v), I.mul);
  vconst(f, -K3);
  f.emit(I.mul);
  vconst(f, -K1);
  f.emit(I.add, I.get(v), I.mul, I.set(z));
  vconst(f, 1);
  vexp(f, z, t, k, u, r2);
  f.emit(I.add);
}

/** gelu(x, y, n4): y = x·sigmoid(z). */
function geluFn(): Fn {
  const f = new Fn("gelu", [I32, I32, I32]);
  const [x, y, n] = [0, 1, 2];
  const i = f.local(I32), v = f.local(V128), z = f.local(V128), t = f.local(V128), k = f.local(V128);
  const u = f.local(V128), r2 = f.local(V128);
  forLoop(f, i, n, () => {
    vaddr(f, y, i);
    vaddr(f, x, i);
    f.emit(I.load(), I.tee(v));
    vGeluDenominator(f, v, z, t, k, u, r2);
    f.emit(I.div, I.store()); // x / (1 + exp(−z))
  });
  return f;
}

/** geluGrad(x, dy, dx, n4): dx = dy·(s + x·s·(1−s)·(K1 + 3·K3·x²)), s = sigmoid(z). */
function geluGradFn(): Fn {
  const f = new Fn("geluGrad", [I32, I32, I32, I32]);
  const [x, dy, dx, n] = [0, 1, 2, 3];
  const i = f.local(I32), v = f.local(V128), z = f.local(V128), t = f.local(V128), k = f.local(V128);
  const s = f.local(V128), u = f.local(V128), r2 = f.local(V128);
  forLoop(f, i, n, () => {
    vaddr(f, x, i);
    f.emit(I.load(), I.set(v));
    vconst(f, 1);
    vGeluDenominator(f, v, z, t, k, u, r2);
    f.emit(I.div, I.set(s));
    vaddr(f, dx, i);
    vaddr(f, dy, i);
    f.emit(I.load());
    // s + v·s·(1−s)·(K1 + 3K3·v²)
    f.emit(I.get(s), I.get(v), I.get(s), I.mul);
    vconst(f, 1);
    f.emit(I.get(s), I.sub, I.mul);
    f.emit(I.get(v), I.get(v), I.mul);
    vconst(f, 3 * K3);
    f.emit(I.mul);
    vconst(f, K1);
    f.emit(I.add, I.mul, I.add, I.mul, I.store());
  });
  return f;
}

/** The GELU SIMD loops on a backend's memory (byte offsets; `n4` vectors of 4 floats). */
export const geluSimd = simdLoops<{
  gelu(x: number, y: number, n4: number): void;
  geluGrad(x: number, dy: number, dx: number, n4: number): void;
}>(() => [geluFn(), geluGradFn()]);

// ---------------------------------------------------------------------------------------------------------------
// Kernels.

/** `sigmoid(z)` for `z = x·(K1 + K3·x²)` computed into a scratch buffer shaped like `like`; returns the sigmoid output. */
function sigmoidOfZ(args: KernelArgs, sigmoid: tf.KernelFunc, x: tf.TensorInfo, like: tf.TensorInfo): tf.TensorInfo {
  const be = wasmOf(args);
  const z = be.makeOutput(like.shape.slice(), "float32");
  const xv = f32(be, x), zv = f32(be, z);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    zv[i] = v * (K1 + K3 * v * v);
  }
  const s = sigmoid({ inputs: { x: z }, attrs: {}, backend: args.backend }) as tf.TensorInfo;
  be.disposeData(z.dataId);
  return s;
}

function geluKernel(args: KernelArgs, sigmoid: tf.KernelFunc): tf.TensorInfo {
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo;
  checkDtype(GELU_KERNELS.gelu, { x });
  const sk = geluSimd(be);
  if (sk) {
    const y = be.makeOutput(x.shape.slice(), "float32");
    const n = sizeOf(x.shape), n4 = n >>> 2;
    sk.gelu(ptr(be, x), ptr(be, y), n4);
    const xv = f32(be, x), yv = f32(be, y);
    for (let i = 4 * n4; i < n; i++) {
      const v = xv[i];
      yv[i] = v / (1 + Math.exp(-v * (K1 + K3 * v * v)));
    }
    return y;
  }
  const s = sigmoidOfZ(args, sigmoid, x, x);
  const xv = f32(be, x), sv = f32(be, s);
  for (let i = 0; i < sv.length; i++) sv[i] = xv[i] * sv[i];
  return s;
}

function geluGradKernel(args: KernelArgs, sigmoid: tf.KernelFunc): tf.TensorInfo {
  const be = wasmOf(args);
  const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
  checkDtype(GELU_KERNELS.geluGrad, { x, dy });
  checkSameSize(GELU_KERNELS.geluGrad, x, dy, "x and dy");
  const sk = geluSimd(be);
  if (sk) {
    const dx = be.makeOutput(dy.shape.slice(), "float32");
    const n = sizeOf(x.shape), n4 = n >>> 2;
    sk.geluGrad(ptr(be, x), ptr(be, dy), ptr(be, dx), n4);
    const xv = f32(be, x), dv = f32(be, dy), ov = f32(be, dx);
    for (let i = 4 * n4; i < n; i++) {
      const v = xv[i], si = 1 / (1 + Math.exp(-v * (K1 + K3 * v * v)));
      ov[i] = dv[i] * (si + v * si * (1 - si) * (K1 + 3 * K3 * v * v));
    }
    return dx;
  }
  const s = sigmoidOfZ(args, sigmoid, x, dy);
  // d/dx [x·s(z)] = s + x·s·(1 − s)·z'(x), z' = K1 + 3·K3·x².
  const xv = f32(be, x), dv = f32(be, dy), sv = f32(be, s);
  for (let i = 0; i < sv.length; i++) {
    const v = xv[i], si = sv[i];
    sv[i] = dv[i] * (si + v * si * (1 - si) * (K1 + 3 * K3 * v * v));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Ops.

/** `gelu(x) = 0.5·x·(1 + tanh(c·(x + 0.044715·x³)))`, elementwise. */
export const gelu = fusedOp({
  name: GELU_KERNELS.gelu,
  group: "nn",
  kernel: () => {
    const sigmoid = stockKernel("Sigmoid");
    return (args) => geluKernel(args, sigmoid);
  },
  fused: (run, x: tf.Tensor) => run<tf.Tensor>({ x }),
  stock: (x: tf.Tensor) =>
    tf.tidy(() => {
      const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), A_GELU)), C_GELU);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }),
});

/** `dy·gelu'(x)`; `x` may be any shape with `dy`'s size (the result has `dy`'s shape). */
export const geluGrad = fusedOp({
  name: GELU_KERNELS.geluGrad,
  group: "nn",
  kernel: () => {
    const sigmoid = stockKernel("Sigmoid");
    return (args) => geluGradKernel(args, sigmoid);
  },
  fused: (run, x: tf.Tensor, dy: tf.Tensor) => run<tf.Tensor>({ x, dy }),
  stock: (x: tf.Tensor, dy: tf.Tensor) =>
    tf.tidy(() => {
      const xs = x.reshape(dy.shape);
      const x2 = tf.mul(xs, xs);
      const t = tf.tanh(tf.mul(tf.mul(xs, tf.add(tf.mul(x2, A_GELU), 1)), C_GELU));
      const dinner = tf.mul(tf.add(tf.mul(x2, 3 * A_GELU), 1), C_GELU);
      const d = tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(xs, 0.5), tf.sub(1, tf.mul(t, t))), dinner));
      return tf.mul(dy, d);
    }),
});
