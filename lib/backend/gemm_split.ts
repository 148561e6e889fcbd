/**
 * How one (batched) matmul is cut into `cblas_sgemm` calls that threads can claim: whole matrices of a batch, or
 * each matrix by rows (by columns when it is wider than tall), in blocks aligned to 16.
 * @module
 */
import { GemmPool } from "./gemm_pool.ts";

/** A row-major (batched) GEMM `C[i] = op(A[a(i)])·op(B[b(i)]) + beta·C[i]`, with byte addresses. */
export interface GemmSpec {
  /** Output matrices. */
  batches: number;
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** A is stored `[k, m]` and used transposed. */
  transA: boolean;
  /** B is stored `[n, k]` and used transposed. */
  transB: boolean;
  /** Byte address of A for output matrix i. */
  a: (i: number) => number;
  /** Byte address of B for output matrix i. */
  b: (i: number) => number;
  /** Byte address of C for output matrix i. */
  c: (i: number) => number;
  /** 0, or 1 to accumulate into C. */
  beta: number;
}

const ALIGN = 16;

/** Rows (or columns) per part when a matrix is split: smaller parts repack the other operand too often. */
export const MIN_PART = 128;

/** `[start, end)` of part `t` of `size` split into `parts` pieces, boundaries rounded to multiples of `align`. */
function part(size: number, parts: number, t: number, align: number): [number, number] {
  const cut = (j: number) => j === parts ? size : Math.min(size, Math.round((size * j) / parts / align) * align);
  return [cut(t), cut(t + 1)];
}

/**
 * Splits `g` into `cblas_sgemm` calls with disjoint outputs, for {@linkcode GemmPool.run} (threads claim calls) or
 * {@linkcode GemmPool.submit} (`maxParts` 1: one call per matrix). With 4+ matrices each is one call; otherwise each
 * matrix is cut along its larger output dimension into up to `maxParts` parts of at least {@linkcode MIN_PART} rows
 * or columns, aligned to 16.
 *
 * @example Usage
 * ```ts
 * import { splitGemm } from "./gemm_split.ts";
 * const g = { batches: 1, m: 1024, n: 256, k: 256, transA: false, transB: false, a: () => 0, b: () => 1e6, c: () => 2e6, beta: 0 };
 * splitGemm(g, 8).length / 14; // 8 calls of 128 rows each
 * splitGemm(g, 1).length / 14; // 1 call
 * ```
 */
export function splitGemm(g: GemmSpec, maxParts: number): number[] {
  const { m, n, k, transA, transB, beta } = g;
  const lda = transA ? m : k, ldb = transB ? k : n;
  const list: number[] = [];
  const byRows = m >= n;
  const parts = g.batches >= 4 ? 1 : Math.max(1, Math.min(maxParts, Math.floor((byRows ? m : n) / MIN_PART)));
  for (let i = 0; i < g.batches; i++) {
    for (let t = 0; t < parts; t++) {
      if (byRows) {
        const [r0, r1] = part(m, parts, t, ALIGN);
        if (r1 <= r0) continue;
        // Rows r0..r1 of op(A): row offset r0·k of A [m, k], or column offset r0 of A stored [k, m].
        const a = g.a(i) + 4 * (transA ? r0 : r0 * k);
        GemmPool.addCall(list, {
          transA,
          transB,
          m: r1 - r0,
          n,
          k,
          a,
          lda,
          b: g.b(i),
          ldb,
          beta,
          c: g.c(i) + 4 * r0 * n,
          ldc: n,
        });
      } else {
        const [c0, c1] = part(n, parts, t, ALIGN);
        if (c1 <= c0) continue;
        // Columns c0..c1 of op(B): column offset c0 of B [k, n], or row offset c0·k of B stored [n, k].
        const b = g.b(i) + 4 * (transB ? c0 * k : c0);
        GemmPool.addCall(list, {
          transA,
          transB,
          m,
          n: c1 - c0,
          k,
          a: g.a(i),
          lda,
          b,
          ldb,
          beta,
          c: g.c(i) + 4 * c0,
          ldc: n,
        });
      }
    }
  }
  return list;
}
