/**
 * LAPACK's single-precision SVD (`sgesdd`, `sgesvd`) through Deno FFI, from the same Debian OpenBLAS package the
 * BLAS backend uses (`libopenblas.so.0` exports LAPACK; `liblapack.so.3` is tried after it). Needs `--allow-ffi`.
 *
 * Fortran calling convention: every argument by pointer (`Int32Array(1)` for integers, one byte for a character),
 * matrices column-major, plus the hidden character-length arguments gfortran appends. A row-major `rows × cols`
 * buffer read column-major is its transpose, so the routines run on `Gᵀ` and the singular vectors are read off
 * accordingly (see {@linkcode lapackSubspace}).
 * @module
 */
import { DEFAULT_BLAS_CANDIDATES, dlopenFirst } from "../backend/blas.ts";
import { meter } from "../memory/meter.ts";

const SYMBOLS = {
  // jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info, len(jobz)
  sgesdd_: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
    ],
    result: "void",
  },
  // jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, info, len(jobu), len(jobvt)
  sgesvd_: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
      "usize",
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Libraries tried, in order, when no path is given: OpenBLAS itself (the file the BLAS backend maps, so LAPACK's
 * inner BLAS calls share its thread setting), then the LAPACK sonames.
 */
export const DEFAULT_LAPACK_CANDIDATES: readonly string[] = [
  ...DEFAULT_BLAS_CANDIDATES.filter((c) => !c.startsWith("libblas")),
  "liblapack.so.3",
  ...["x86_64", "aarch64"].map((arch) => `/usr/lib/${arch}-linux-gnu/liblapack.so.3`),
];

/** Which LAPACK SVD driver: divide and conquer (`sgesdd`, faster) or QR iteration (`sgesvd`, the fallback). */
export type LapackDriver = "gesdd" | "gesvd";

/** A loaded LAPACK library. */
export interface LapackLibrary {
  /** The candidate it was opened from. */
  readonly path: string;
  /** The raw routines (no checks: callers pass valid sizes and buffers). */
  readonly symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
}

/** The outcome of {@linkcode findLapack}. */
export interface FindLapackResult {
  /** The library, when one loaded. */
  lib?: LapackLibrary;
  /** Each candidate that failed, with the reason. */
  failures: { path: string; reason: string }[];
}

const cache = new Map<string, FindLapackResult>();

/**
 * Opens the first library that exports `sgesdd_` and `sgesvd_` (`path` alone when given, else
 * {@linkcode DEFAULT_LAPACK_CANDIDATES}); the outcome, success or not, is cached per candidate list.
 *
 * @param path An explicit library path or soname.
 * @returns The library, or the failures.
 *
 * @example Usage
 * ```ts
 * import { findLapack } from "./lapack.ts";
 * const { lib, failures } = findLapack();
 * console.log(lib ? `LAPACK from ${lib.path}` : `no LAPACK: ${failures.map((f) => f.reason).join(", ")}`);
 * ```
 */
export function findLapack(path?: string): FindLapackResult {
  const candidates = path === undefined ? DEFAULT_LAPACK_CANDIDATES : [path];
  const key = candidates.join("\n");
  const hit = cache.get(key);
  if (hit) return hit;
  const { lib, path: from, failures } = dlopenFirst(candidates, SYMBOLS, "sgesdd_");
  const result: FindLapackResult = lib ? { lib: { path: from!, symbols: lib.symbols }, failures } : { failures };
  cache.set(key, result);
  return result;
}

/**
 * {@linkcode findLapack}, or a RangeError saying what was tried.
 *
 * @example Usage
 * ```ts
 * import { findLapack, loadLapack } from "./lapack.ts";
 * import assert from "node:assert/strict";
 *
 * if (findLapack().lib) assert.equal(typeof loadLapack().symbols.sgesdd_, "function");
 * assert.throws(() => loadLapack("/nonexistent/liblapack.so"), RangeError);
 * ```
 * @throws {RangeError} when no candidate loads.
 */
export function loadLapack(path?: string): LapackLibrary {
  const { lib, failures } = findLapack(path);
  if (lib) return lib;
  throw new RangeError(
    `Cannot load LAPACK: no library with sgesdd_ and sgesvd_ found (tried ${
      failures.map((f) => `${f.path} (${f.reason})`).join(", ")
    }); install libopenblas0-pthread or use svd: "randomized"`,
  );
}

/** Which singular vectors of a `rows × cols` matrix G a projector holds. */
export type Side = "left" | "right";

/** What {@linkcode lapackSubspace} returns. */
export interface LapackSubspace {
  /**
   * The projector, row-major: for `"left"` the top-`rank` left singular vectors as the columns of a `rows × rank`
   * matrix; for `"right"` the top-`rank` right singular vectors as the rows of a `rank × cols` matrix. Undefined
   * when LAPACK reported an error (`info != 0`).
   */
  p?: Float32Array;
  /** All min(rows, cols) singular values, descending (undefined on error). */
  s?: Float32Array;
  /** LAPACK's `info`: 0 on success, > 0 when the iteration did not converge, < 0 for a bad argument. */
  info: number;
}

const int = (v: number) => Int32Array.of(v);
const chr = (c: string) => Uint8Array.of(c.charCodeAt(0));

/**
 * The top-`rank` singular subspace of one side of a row-major `rows × cols` matrix, by `sgesdd` (jobz 'S') or
 * `sgesvd` (only the needed side's vectors). LAPACK gets a tall column-major matrix X (faster than a wide one): the
 * buffer itself, read column-major as `X = Gᵀ`, when `rows <= cols`, else a transposed copy (`X = G`). With
 * `X = U S Vᵀ`, G's left singular vectors are X's right ones (rows of Vᵀ) in the first case and X's left ones
 * (columns of U) in the second, and the other way round for G's right singular vectors. The workspace size is
 * queried first (`lwork = -1`). `g` is not modified. The JS buffers LAPACK works in (the copy of G, U, Vᵀ and the
 * workspace) are entered in the meter's external ledger while the routine runs, so a step's peak includes them.
 *
 * @param lib The library ({@linkcode loadLapack}).
 * @param g The matrix, row-major.
 * @param rows Rows m.
 * @param cols Columns n.
 * @param rank How many singular vectors, in [1, min(m, n)].
 * @param side Which side's vectors.
 * @param driver `"gesdd"` or `"gesvd"`.
 * @returns The projector and the singular values, or `info != 0`.
 * @throws {RangeError} for sizes that do not fit `g` or a rank outside [1, min(m, n)].
 *
 * @example Usage
 * ```ts
 * import { findLapack, lapackSubspace } from "./lapack.ts";
 * import assert from "node:assert/strict";
 *
 * const { lib } = findLapack();
 * if (lib) {
 *   // diag(3, 1) padded to 2×3: the top left singular vector is e1, the top right one e1.
 *   const g = Float32Array.of(3, 0, 0, 0, 1, 0);
 *   const left = lapackSubspace(lib, g, 2, 3, 1, "left", "gesdd");
 *   assert.equal(Math.abs(left.p![0]), 1);
 *   const right = lapackSubspace(lib, g, 2, 3, 1, "right", "gesvd");
 *   assert.equal(Math.abs(right.p![0]), 1);
 *   assert.deepEqual(Array.from(right.s!), [3, 1]);
 * }
 * ```
 */
export function lapackSubspace(
  lib: LapackLibrary,
  g: Float32Array,
  rows: number,
  cols: number,
  rank: number,
  side: Side,
  driver: LapackDriver,
): LapackSubspace {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || g.length < rows * cols) {
    throw new RangeError(
      `Cannot run LAPACK SVD: 'g' must hold rows x cols = ${rows}x${cols} elements: current length is ${g.length}`,
    );
  }
  const k = Math.min(rows, cols);
  if (!Number.isInteger(rank) || rank < 1 || rank > k) {
    throw new RangeError(`Cannot run LAPACK SVD: 'rank' must be an integer in [1, ${k}]: current value is ${rank}`);
  }
  // X, column-major mf × nf with mf >= nf = k.
  const xIsGt = rows <= cols;
  const mf = xIsGt ? cols : rows;
  let a: Float32Array;
  if (xIsGt) a = g.slice(0, rows * cols);
  else {
    a = new Float32Array(rows * cols); // column-major G: a[i + j·rows] = G[i, j]
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) a[i + j * rows] = g[i * cols + j];
  }
  // The wanted vectors come from X's U (columns, length mf) or X's Vᵀ (rows, length k).
  const fromU = (side === "left") !== xIsGt;
  const s = new Float32Array(k);
  const info = int(0);
  let u: Float32Array, vt: Float32Array;
  const f = lib.symbols;
  const run = (call: (work: Float32Array, lwork: number) => void, iwork = 0) => {
    const query = new Float32Array(1);
    call(query, -1);
    if (info[0] !== 0) return;
    const lwork = Math.max(1, Math.ceil(query[0]));
    const bytes = 4 * (a.length + u.length + vt.length + s.length + lwork + iwork);
    const m = meter();
    m.addExternal(bytes);
    try {
      call(new Float32Array(lwork), lwork);
    } finally {
      m.addExternal(-bytes);
    }
  };
  if (driver === "gesdd") {
    u = new Float32Array(mf * k);
    vt = new Float32Array(k * k);
    const iwork = new Int32Array(8 * k);
    run(
      (work, lwork) =>
        f.sgesdd_(chr("S"), int(mf), int(k), a, int(mf), s, u, int(mf), vt, int(k), work, int(lwork), iwork, info, 1n),
      iwork.length,
    );
  } else {
    u = new Float32Array(fromU ? mf * k : 1);
    vt = new Float32Array(fromU ? 1 : k * k);
    const ldu = fromU ? mf : 1, ldvt = fromU ? 1 : k;
    run((work, lwork) =>
      f.sgesvd_(
        chr(fromU ? "S" : "N"),
        chr(fromU ? "N" : "S"),
        int(mf),
        int(k),
        a,
        int(mf),
        s,
        u,
        int(ldu),
        vt,
        int(ldvt),
        work,
        int(lwork),
        info,
        1n,
        1n,
      )
    );
  }
  if (info[0] !== 0) return { info: info[0] };
  // vec(i)[j]: column i of U (u[j + i·mf]) or row i of Vᵀ (vt[i + j·k]).
  const len = side === "left" ? rows : cols;
  const at = fromU ? (i: number, j: number) => u[j + i * mf] : (i: number, j: number) => vt[i + j * k];
  const p = new Float32Array(len * rank);
  if (side === "left") { for (let j = 0; j < len; j++) for (let i = 0; i < rank; i++) p[j * rank + i] = at(i, j); }
  else for (let i = 0; i < rank; i++) for (let j = 0; j < len; j++) p[i * len + j] = at(i, j);
  return { p, s, info: 0 };
}
