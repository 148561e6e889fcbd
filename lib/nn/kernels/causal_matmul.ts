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
 * The kernels run only on the blas backend (they need BLAS on the heap), in the group `"causal"`, so
 * `BackendOptions.fusedOff: ["causal"]` (or `setFusedKernels(false, "causal")`) falls back to the full products alone.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import { checkDtype, heapOffset, type KernelArgs, wasmOf } from "../../backend/heap.ts";
import { blasHeapGemms, type HeapGemm, isBlasPatched } from "../../backend/blas_patch.ts";
import { checkCausalShape, lastVisibleKey } from "./causal_mask.ts";

/** Kernel names (backend "wasm"). */
export const CAUSAL_KERNELS = {
  causalScores: "MemtrainCausalMatMul",
  causalLowerMatMul: "MemtrainCausalMatMulNN",
  causalLowerMatMulT: "MemtrainCausalMatMulTN",
} as const;

/** Rows (or keys) per block: smaller blocks skip more masked work but run smaller GEMMs. */
export const CAUSAL_BLOCK = 32;

/** The product shapes of {@linkcode CAUSAL_KERNELS}. */
export type CausalMode = "nt" | "nn" | "tn";

/** `[start, end)` of the keys the query rows `r0..r1-1` see: `0..lastVisibleKey(r1 − 1) + 1`. */
function visibleKeys(r1: number, tq: number, tk: number): number {
  return Math.min(tk, lastVisibleKey(r1 - 1, tq, tk) + 1);
}

/** The first query row that sees key `c0` (`lastVisibleKey(i) >= c0`). */
function firstQueryOf(c0: number, tq: number, tk: number): number {
  return Math.max(0, c0 - lastVisibleKey(0, tq, tk));
}

/** The per-batch GEMM calls of one mode (float32 heap indices `a`, `b`, `c` of batch 0; callers add batch offsets). */
export function causalBlockCalls(mode: CausalMode, tq: number, tk: number, d: number, block: number): HeapGemm[] {
  const calls: HeapGemm[] = [];
  if (mode === "tn") {
    // out[c0:c1] = a[i0:tq, c0:c1]ᵀ·b[i0:tq]: keys c0..c1-1 are seen by the query rows i0..tq-1 only.
    for (let c0 = 0; c0 < tk; c0 += block) {
      const c1 = Math.min(tk, c0 + block), i0 = firstQueryOf(c0, tq, tk); // i0 < tq: the last row sees every key
      calls.push({
        transA: true,
        m: c1 - c0,
        n: d,
        k: tq - i0,
        a: i0 * tk + c0,
        lda: tk,
        b: i0 * d,
        ldb: d,
        c: c0 * d,
        ldc: d,
      });
    }
    return calls;
  }
  for (let r0 = 0; r0 < tq; r0 += block) {
    const r1 = Math.min(tq, r0 + block), kEnd = visibleKeys(r1, tq, tk);
    if (mode === "nt") {
      // out[r0:r1, 0:kEnd] = a[r0:r1]·b[0:kEnd]ᵀ
      calls.push({ transB: true, m: r1 - r0, n: kEnd, k: d, a: r0 * d, lda: d, b: 0, ldb: d, c: r0 * tk, ldc: tk });
    } else {
      // out[r0:r1] = a[r0:r1, 0:kEnd]·b[0:kEnd]
      calls.push({ m: r1 - r0, n: d, k: kEnd, a: r0 * tk, lda: tk, b: 0, ldb: d, c: r0 * d, ldc: d });
    }
  }
  return calls;
}

function causalKernel(args: KernelArgs): tf.TensorInfo {
  const be = wasmOf(args);
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const { mode, block } = args.attrs as unknown as { mode: CausalMode; block: number };
  const name = CAUSAL_KERNELS.causalScores;
  checkDtype(name, { a, b });
  if (a.shape.length !== 3 || b.shape.length !== 3 || a.shape[0] !== b.shape[0]) {
    throw new TypeError(`${name}: expected [BH, ·, ·] operands: current shapes are [${a.shape}] and [${b.shape}]`);
  }
  const bh = a.shape[0];
  let tq: number, tk: number, d: number, outShape: number[];
  if (mode === "nt") {
    [tq, d] = [a.shape[1], a.shape[2]];
    tk = b.shape[1];
    if (b.shape[2] !== d) throw new TypeError(`${name} (nt): inner sizes ${d} and ${b.shape[2]} differ`);
    outShape = [bh, tq, tk];
  } else {
    [tq, tk] = [a.shape[1], a.shape[2]];
    d = b.shape[2];
    if (b.shape[1] !== (mode === "nn" ? tk : tq)) {
      throw new TypeError(`${name} (${mode}): shapes [${a.shape}] and [${b.shape}] do not match`);
    }
    outShape = mode === "nn" ? [bh, tq, d] : [bh, tk, d];
  }
  checkCausalShape(name, tq, tk);
  const out = be.makeOutput(outShape, "float32");
  const aAt = heapOffset(be, a) / 4, bAt = heapOffset(be, b) / 4, oAt = heapOffset(be, out) / 4; // after makeOutput
  const aSize = a.shape[1] * a.shape[2], bSize = b.shape[1] * b.shape[2], oSize = outShape[1] * outShape[2];
  const per = causalBlockCalls(mode, tq, tk, d, block);
  const calls: HeapGemm[] = [];
  for (let i = 0; i < bh; i++) {
    for (const c of per) {
      calls.push({ ...c, a: aAt + i * aSize + c.a, b: bAt + i * bSize + c.b, c: oAt + i * oSize + c.c });
    }
  }
  if (!blasHeapGemms(be, calls)) throw new Error(`${name}: the blas backend is not active`);
  if (mode === "nt") {
    // Zero what the block GEMMs skipped and what they computed above the diagonal: every key past the visible ones.
    const heap = new Float32Array(be.wasm.HEAPU8.buffer);
    for (let i = 0; i < bh; i++) {
      const o = oAt + i * oSize;
      for (let r = 0; r < tq; r++) heap.fill(0, o + r * tk + lastVisibleKey(r, tq, tk) + 1, o + (r + 1) * tk);
    }
  }
  return out;
}

function causalOp(mode: CausalMode, stock: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) {
  return fusedOp({
    name: mode === "nt"
      ? CAUSAL_KERNELS.causalScores
      : mode === "nn"
      ? CAUSAL_KERNELS.causalLowerMatMul
      : CAUSAL_KERNELS.causalLowerMatMulT,
    group: "causal",
    kernel: () => causalKernel,
    fused: (run, a: tf.Tensor, b: tf.Tensor, block = CAUSAL_BLOCK) => run<tf.Tensor>({ a, b }, { mode, block }),
    stock: (a: tf.Tensor, b: tf.Tensor, _block?: number) => stock(a, b),
    accepts: (a, b, block = CAUSAL_BLOCK) =>
      isBlasPatched() && a.rank === 3 && b.rank === 3 && a.dtype === "float32" && b.dtype === "float32" &&
      Number.isInteger(block) && block >= 1,
  });
}

/**
 * Causal scores `a·bᵀ` for `a [BH, tq, d]`, `b [BH, tk, d]` -> `[BH, tq, tk]`: on blas only the visible entries are
 * computed and the masked ones are 0; elsewhere the full product (the mask is applied by the softmax either way).
 */
export const causalScores = causalOp("nt", (a, b) => tf.matMul(a, b, false, true));

/** `a·b` for `a [BH, tq, tk]` that is 0 above the causal diagonal and `b [BH, tk, d]` -> `[BH, tq, d]`. */
export const causalLowerMatMul = causalOp("nn", (a, b) => tf.matMul(a, b));

/** `aᵀ·b` for `a [BH, tq, tk]` that is 0 above the causal diagonal and `b [BH, tq, d]` -> `[BH, tk, d]`. */
export const causalLowerMatMulT = causalOp("tn", (a, b) => tf.matMul(a, b, true, false));
