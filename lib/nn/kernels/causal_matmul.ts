/**
 * Causal attention's matrix products without the masked half: `MemtrainCausalMatMul` `{a, b}` (attr `mode`,
 * `block`), one fused op per product shape, each cut into row (or key) blocks of `block` and issued as the
 * lower-triangular block GEMMs only (`cblas_sgemm` on sub-blocks of the wasm heap, through the GEMM worker pool when
 * it runs). The mask is the one of `causal_mask.ts` ({@linkcode lastVisibleKey}: query row `i` of `tq` sees keys
 * `0..i + tk − tq`), so query offsets (StreamBP's slices, `tq < tk`) are exact.
 *
 * The three modes, for `[BH, ·, ·]` operands (`tq` query rows, `tk` keys, `d` head width):
 * - `"nt"` {@linkcode causalScores}: `a [BH, tq, d]·b [BH, tk, d]ᵀ -> [BH, tq, tk]`, the visible entries only and 0
 *   above the causal diagonal (q·kᵀ, dout·vᵀ); the stock op is the full product, equal on every visible entry;
 * - `"nn"` {@linkcode causalLowerMatMul}: `a [BH, tq, tk]·b [BH, tk, d] -> [BH, tq, d]` for `a` that is 0 above the
 *   diagonal (softmax probabilities and their gradient); equals the full product `tf.matMul(a, b)`;
 * - `"tn"` {@linkcode causalLowerMatMulT}: `a [BH, tq, tk]ᵀ·b [BH, tq, d] -> [BH, tk, d]`, same precondition on `a`
 *   (pᵀ·dout, dsᵀ·q); equals `tf.matMul(a, b, true, false)`.
 *
 * Head layouts without copies: with `heads` H > 0, the operand named below is the merged `[B, T, H·d]` layout (head
 * `h` of batch `b` is the column block `h·d` of rows `b·T..`), read or written in place through BLAS's leading
 * dimensions: `"nt"`'s `a` (dout straight from the output projection's gradient), `"nn"`'s output (the heads' outputs
 * straight into the projection's input), `"tn"`'s `b`. {@linkcode causalQkvGrad} writes dq, dk and dv straight into
 * the `[B, e, 3·H·d]` gradient of the fused q/k/v projection. Their stock ops split or merge with
 * {@linkcode splitHeads} / {@linkcode mergeHeads}.
 *
 * The kernels run only on the blas backend (they need BLAS on the heap), in the group `"causal"`, so
 * `BackendOptions.fusedOff: ["causal"]` (or `setFusedKernels(false, "causal")`) falls back to the full products alone.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import { checkDtype, heapOffset, type KernelArgs, wasmOf } from "../../backend/heap.ts";
import { blasHeapGemms, type HeapGemm, isBlasPatched } from "../../backend/blas_patch.ts";
import { checkCausalShape, lastVisibleKey } from "./causal_mask.ts";
import { mergeHeads, splitHeads } from "./heads.ts";

/** Kernel names (backend "wasm"). */
export const CAUSAL_KERNELS = {
  causalScores: "MemtrainCausalMatMul",
  causalLowerMatMul: "MemtrainCausalMatMulNN",
  causalLowerMatMulT: "MemtrainCausalMatMulTN",
  causalQkvGrad: "MemtrainCausalQkvGrad",
} as const;

/** Rows (or keys) per block: smaller blocks skip more masked work but run smaller GEMMs. */
export const CAUSAL_BLOCK = 32;

/** The product shapes of {@linkcode CAUSAL_KERNELS}. */
export type CausalMode = "nt" | "nn" | "tn";

/** The number of keys the query rows `..r1-1` see: `lastVisibleKey(r1 − 1) + 1`. */
function visibleKeys(r1: number, tq: number, tk: number): number {
  return Math.min(tk, lastVisibleKey(r1 - 1, tq, tk) + 1);
}

/** The first query row that sees key `c0` (`lastVisibleKey(i) >= c0`). */
function firstQueryOf(c0: number, tq: number, tk: number): number {
  return Math.max(0, c0 - lastVisibleKey(0, tq, tk));
}

/** Leading dimensions of a, b and the output (row-major, elements). */
interface Lds {
  lda: number;
  ldb: number;
  ldc: number;
}

/**
 * The lower-triangular block GEMMs of one head (float32 offsets of `a`, `b`, `c` relative to the head's first
 * element of each operand; callers add each head's base).
 */
export function causalBlockCalls(
  mode: CausalMode,
  tq: number,
  tk: number,
  d: number,
  block: number,
  lds?: Lds,
): HeapGemm[] {
  const { lda, ldb, ldc } = lds ?? { lda: mode === "nt" ? d : tk, ldb: d, ldc: mode === "nt" ? tk : d };
  const calls: HeapGemm[] = [];
  if (mode === "tn") {
    // out[c0:c1] = a[i0:tq, c0:c1]ᵀ·b[i0:tq]: keys c0..c1-1 are seen by the query rows i0..tq-1 only.
    for (let c0 = 0; c0 < tk; c0 += block) {
      const c1 = Math.min(tk, c0 + block), i0 = firstQueryOf(c0, tq, tk); // i0 < tq: the last row sees every key
      const k = tq - i0;
      calls.push({ transA: true, m: c1 - c0, n: d, k, a: i0 * lda + c0, lda, b: i0 * ldb, ldb, c: c0 * ldc, ldc });
    }
    return calls;
  }
  for (let r0 = 0; r0 < tq; r0 += block) {
    const r1 = Math.min(tq, r0 + block), kEnd = visibleKeys(r1, tq, tk);
    if (mode === "nt") {
      // out[r0:r1, 0:kEnd] = a[r0:r1]·b[0:kEnd]ᵀ
      calls.push({ transB: true, m: r1 - r0, n: kEnd, k: d, a: r0 * lda, lda, b: 0, ldb, c: r0 * ldc, ldc });
    } else {
      // out[r0:r1] = a[r0:r1, 0:kEnd]·b[0:kEnd]
      calls.push({ m: r1 - r0, n: d, k: kEnd, a: r0 * lda, lda, b: 0, ldb, c: r0 * ldc, ldc });
    }
  }
  return calls;
}

/** Where head `i` (of `B·H`) of an operand starts, and its leading dimension. */
interface HeadView {
  at: (i: number) => number;
  ld: number;
}

/** Contiguous `[BH, rows, cols]` (float32 index `base`). */
function packed(base: number, rows: number, cols: number): HeadView {
  return { at: (i) => base + i * rows * cols, ld: cols };
}

/** Merged `[B, rows, width]`: head `h` of batch `b` is the column block `offset + h·d` of batch b's rows. */
function merged(base: number, rows: number, width: number, heads: number, d: number, offset = 0): HeadView {
  return { at: (i) => base + Math.floor(i / heads) * rows * width + offset + (i % heads) * d, ld: width };
}

/** Adds one mode's block GEMMs of every head to `calls`. */
function pushCalls(
  calls: HeapGemm[],
  mode: CausalMode,
  bh: number,
  dims: { tq: number; tk: number; d: number; block: number },
  a: HeadView,
  b: HeadView,
  c: HeadView,
): void {
  const per = causalBlockCalls(mode, dims.tq, dims.tk, dims.d, dims.block, { lda: a.ld, ldb: b.ld, ldc: c.ld });
  for (let i = 0; i < bh; i++) {
    const ai = a.at(i), bi = b.at(i), ci = c.at(i);
    for (const g of per) calls.push({ ...g, a: ai + g.a, b: bi + g.b, c: ci + g.c });
  }
}

const index = (be: ReturnType<typeof wasmOf>, t: tf.TensorInfo) => heapOffset(be, t) / 4;

function shapeError(name: string, what: string, ...shapes: tf.TensorInfo[]): TypeError {
  return new TypeError(`${name}: expected ${what}: current shapes are ${shapes.map((t) => `[${t.shape}]`).join(", ")}`);
}

function run(be: ReturnType<typeof wasmOf>, name: string, calls: HeapGemm[]): void {
  if (!blasHeapGemms(be, calls)) throw new Error(`${name}: the blas backend is not active`);
}

function causalKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const { mode, block, heads } = args.attrs as unknown as { mode: CausalMode; block: number; heads: number };
  const name = mode === "nt"
    ? CAUSAL_KERNELS.causalScores
    : mode === "nn"
    ? CAUSAL_KERNELS.causalLowerMatMul
    : CAUSAL_KERNELS.causalLowerMatMulT;
  checkDtype(name, { a, b });
  if (a.shape.length !== 3 || b.shape.length !== 3) throw shapeError(name, "rank-3 operands", a, b);
  const h = heads > 0 ? heads : 1;
  // The merged operand ("nt": a, "tn": b) has B = BH / H rows of H·d columns.
  const bh = mode === "nt" ? b.shape[0] : a.shape[0];
  let tq: number, tk: number, d: number;
  if (mode === "nt") {
    [tq, tk, d] = [a.shape[1], b.shape[1], b.shape[2]];
    if (a.shape[0] * (heads > 0 ? h : 1) !== bh || a.shape[2] !== h * d) {
      throw shapeError(name, heads > 0 ? `a [B, tq, ${h}·d], b [B·${h}, tk, d]` : "a [BH, tq, d], b [BH, tk, d]", a, b);
    }
  } else {
    [tq, tk] = [a.shape[1], a.shape[2]];
    d = b.shape[2] / (mode === "tn" && heads > 0 ? h : 1);
    const bRows = mode === "nn" ? tk : tq, bBatch = mode === "tn" && heads > 0 ? bh / h : bh;
    if (b.shape[0] !== bBatch || b.shape[1] !== bRows || !Number.isInteger(d) || bh % h !== 0) {
      throw shapeError(name, `a [BH, tq, tk] and a matching b (mode ${mode}, heads ${heads})`, a, b);
    }
  }
  checkCausalShape(name, tq, tk);
  const outShape = mode === "nt"
    ? [bh, tq, tk]
    : mode === "tn"
    ? [bh, tk, d]
    : heads > 0
    ? [bh / h, tq, h * d]
    : [bh, tq, d];
  const out = be.makeOutput(outShape, "float32");
  const aAt = index(be, a), bAt = index(be, b), oAt = index(be, out); // after makeOutput (the heap may grow)
  const av = mode === "nt" && heads > 0 ? merged(aAt, tq, h * d, h, d) : packed(aAt, a.shape[1], a.shape[2]);
  const bv = mode === "tn" && heads > 0 ? merged(bAt, tq, h * d, h, d) : packed(bAt, b.shape[1], d);
  const ov = mode === "nn" && heads > 0
    ? merged(oAt, tq, h * d, h, d)
    : packed(oAt, outShape[1], mode === "nt" ? tk : d);
  const calls: HeapGemm[] = [];
  pushCalls(calls, mode, bh, { tq, tk, d, block }, av, bv, ov);
  run(be, name, calls);
  if (mode === "nt") {
    // Zero what the block GEMMs skipped and what they computed above the diagonal: every key past the visible ones.
    const heap = new Float32Array(be.wasm.HEAPU8.buffer);
    for (let i = 0; i < bh; i++) {
      const o = oAt + i * tq * tk;
      for (let r = 0; r < tq; r++) heap.fill(0, o + r * tk + lastVisibleKey(r, tq, tk) + 1, o + (r + 1) * tk);
    }
  }
  return out;
}

/** dq = ds·k, dk = dsᵀ·q, dv = pᵀ·dout straight into `[B, e, 3·H·dh]` (dq 0 on the `e − tq` prefix rows). */
function qkvGradKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const name = CAUSAL_KERNELS.causalQkvGrad;
  const { ds, p, q, k, dout } = args.inputs as Record<string, tf.TensorInfo>;
  const { heads: h, block } = args.attrs as unknown as { heads: number; block: number };
  checkDtype(name, { ds, p, q, k, dout });
  const [bh, tq, e] = ds.shape;
  const dh = k.shape[k.shape.length - 1], b = bh / h, dim = h * dh;
  const ok = ds.shape.length === 3 && p.shape.join() === ds.shape.join() && Number.isInteger(b) &&
    q.shape.reduce((x, y) => x * y, 1) === bh * tq * dh && k.shape.reduce((x, y) => x * y, 1) === bh * e * dh &&
    dout.shape.join() === [b, tq, dim].join();
  if (!ok) {
    throw shapeError(
      name,
      `ds, p [B·${h}, tq, e], q [B·${h}, tq, dh], k [B·${h}, e, dh], dout [B, tq, ${h}·dh]`,
      ds,
      p,
      q,
      k,
      dout,
    );
  }
  checkCausalShape(name, tq, e);
  const out = be.makeOutput([b, e, 3 * dim], "float32");
  const o = index(be, out), w = 3 * dim;
  const dims = { tq, tk: e, d: dh, block };
  const calls: HeapGemm[] = [];
  const dq = merged(o + (e - tq) * w, e, w, h, dh, 0); // dq rows start at the first query row
  pushCalls(calls, "nn", bh, dims, packed(index(be, ds), tq, e), packed(index(be, k), e, dh), dq);
  pushCalls(
    calls,
    "tn",
    bh,
    dims,
    packed(index(be, ds), tq, e),
    packed(index(be, q), tq, dh),
    merged(o, e, w, h, dh, dim),
  );
  const doutView = merged(index(be, dout), tq, dim, h, dh);
  pushCalls(calls, "tn", bh, dims, packed(index(be, p), tq, e), doutView, merged(o, e, w, h, dh, 2 * dim));
  if (e > tq) {
    const heap = new Float32Array(be.wasm.HEAPU8.buffer);
    for (let bi = 0; bi < b; bi++) {
      for (let r = 0; r < e - tq; r++) heap.fill(0, o + (bi * e + r) * w, o + (bi * e + r) * w + dim); // no query
    }
  }
  run(be, name, calls);
  return out;
}

/**
 * True when the causal kernels run (blas backend, fused kernels and the group `"causal"` on, no gradient tape): the
 * attention layer then takes its in-place causal path, else the plain products with its head split/merge.
 *
 * @example Usage
 * ```ts ignore
 * const inPlace = causal && causalKernelsActive();
 * ```
 */
export function causalKernelsActive(): boolean {
  return causalScores.active() && isBlasPatched();
}

/** The arguments of the three product ops: `(a, b, block?, heads?)`. */
type ProductArgs = [a: tf.Tensor, b: tf.Tensor, block?: number, heads?: number];
/** The arguments of {@linkcode causalQkvGrad}. */
type QkvGradArgs = [
  ds: tf.Tensor,
  p: tf.Tensor,
  q: tf.Tensor,
  k: tf.Tensor,
  dout: tf.Tensor,
  heads: number,
  block?: number,
];

const accepts = (...ts: tf.Tensor[]) => isBlasPatched() && ts.every((t) => t.dtype === "float32");
const okBlock = (block: number) => Number.isInteger(block) && block >= 1;

/**
 * Causal scores `a·bᵀ` for `a [BH, tq, d]` (or, with `heads` H > 0, `[B, tq, H·d]`), `b [BH, tk, d]` ->
 * `[BH, tq, tk]`: on blas only the visible entries are computed and the masked ones are 0; elsewhere the full product
 * (the mask is applied by the softmax either way).
 */
export const causalScores = fusedOp<ProductArgs, tf.Tensor>({
  name: CAUSAL_KERNELS.causalScores,
  group: "causal",
  kernel: () => causalKernel,
  fused: (run, a, b, block = CAUSAL_BLOCK, heads = 0) => run<tf.Tensor>({ a, b }, { mode: "nt", block, heads }),
  stock: (a, b, _block, heads = 0) =>
    tf.tidy(() =>
      tf.matMul(
        heads > 0 ? splitHeads(a, heads, 1)[0].reshape([-1, a.shape[1] as number, b.shape[2] as number]) : a,
        b,
        false,
        true,
      )
    ),
  accepts: (a, b, block = CAUSAL_BLOCK, heads = 0) =>
    accepts(a, b) && okBlock(block) && Number.isInteger(heads) && heads >= 0,
});

/**
 * `a·b` for `a [BH, tq, tk]` that is 0 above the causal diagonal and `b [BH, tk, d]` -> `[BH, tq, d]` (with `heads`
 * H > 0: the merged `[BH / H, tq, H·d]`).
 */
export const causalLowerMatMul = fusedOp<ProductArgs, tf.Tensor>({
  name: CAUSAL_KERNELS.causalLowerMatMul,
  group: "causal",
  kernel: () => causalKernel,
  fused: (run, a, b, block = CAUSAL_BLOCK, heads = 0) => run<tf.Tensor>({ a, b }, { mode: "nn", block, heads }),
  stock: (a, b, _block, heads = 0) =>
    tf.tidy(() => {
      const o = tf.matMul(a, b);
      return heads > 0 ? mergeHeads([o], a.shape[0] / heads, heads) : o;
    }),
  accepts: (a, b, block = CAUSAL_BLOCK, heads = 0) =>
    accepts(a, b) && okBlock(block) && Number.isInteger(heads) && heads >= 0,
});

/**
 * `aᵀ·b` for `a [BH, tq, tk]` that is 0 above the causal diagonal and `b [BH, tq, d]` (with `heads` H > 0: the merged
 * `[BH / H, tq, H·d]`) -> `[BH, tk, d]`.
 */
export const causalLowerMatMulT = fusedOp<ProductArgs, tf.Tensor>({
  name: CAUSAL_KERNELS.causalLowerMatMulT,
  group: "causal",
  kernel: () => causalKernel,
  fused: (run, a, b, block = CAUSAL_BLOCK, heads = 0) => run<tf.Tensor>({ a, b }, { mode: "tn", block, heads }),
  stock: (a, b, _block, heads = 0) =>
    tf.tidy(() =>
      tf.matMul(
        a,
        heads > 0 ? splitHeads(b, heads, 1)[0].reshape([a.shape[0], a.shape[1] as number, -1]) : b,
        true,
        false,
      )
    ),
  accepts: (a, b, block = CAUSAL_BLOCK, heads = 0) =>
    accepts(a, b) && okBlock(block) && Number.isInteger(heads) && heads >= 0,
});

/**
 * Causal attention's q/k/v gradient `[B, e, 3·H·dh]` (the fused projection's output gradient) from `ds`, `p`
 * `[B·H, tq, e]` (0 above the diagonal), `q [B·H, tq, dh]`, `k [B·H, e, dh]` and `dout [B, tq, H·dh]`: dq = ds·k
 * (0 on the `e − tq` prefix rows, which asked no query), dk = dsᵀ·q, dv = pᵀ·dout, written in place by BLAS on blas,
 * else the products merged by {@linkcode mergeHeads}.
 */
export const causalQkvGrad = fusedOp<QkvGradArgs, tf.Tensor>({
  name: CAUSAL_KERNELS.causalQkvGrad,
  group: "causal",
  kernel: () => qkvGradKernel,
  fused: (run, ds, p, q, k, dout, heads, block = CAUSAL_BLOCK) =>
    run<tf.Tensor>({ ds, p, q, k, dout }, { heads, block }),
  stock: (ds, p, q, k, dout, heads) =>
    tf.tidy(() => {
      const [bh, tq, e] = ds.shape;
      const dh = k.shape[k.shape.length - 1];
      const k3 = k.reshape([bh, e, dh]), q3 = q.reshape([bh, tq, dh]);
      let dq = tf.matMul(ds, k3); // [BH, tq, dh]
      if (tq < e) dq = tf.pad(dq, [[0, 0], [e - tq, 0], [0, 0]]); // [BH, e, dh]: prefix rows asked no query
      const dk = tf.matMul(ds, q3, true, false); // [BH, e, dh]
      const dv = tf.matMul(p, splitHeads(dout, heads, 1)[0].reshape([bh, tq, dh]), true, false); // [BH, e, dh]
      return mergeHeads([dq, dk, dv], bh / heads, heads);
    }),
  accepts: (ds, p, q, k, dout, heads, block = CAUSAL_BLOCK) =>
    accepts(ds, p, q, k, dout) && okBlock(block) && Number.isInteger(heads) && heads >= 1,
});
