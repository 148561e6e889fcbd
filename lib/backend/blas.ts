/**
 * OpenBLAS (or another CBLAS library) through `Deno.dlopen`: library lookup, thread count and a bounds-checked
 * `sgemm` on `Float32Array`s. Needs `--allow-ffi`.
 * @module
 */
import { sgemmParameters } from "./gemm_protocol.ts";

const SYMBOLS = {
  cblas_sgemm: {
    parameters: sgemmParameters("buffer"),
    result: "void",
  },
  cblas_sgemv: {
    parameters: ["i32", "i32", "i32", "i32", "f32", "buffer", "i32", "buffer", "i32", "f32", "buffer", "i32"],
    result: "void",
    optional: true,
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** CBLAS enum values (row-major storage, no transpose, transpose). */
export const CBLAS = { RowMajor: 101, NoTrans: 111, Trans: 112 } as const;

/**
 * Library names and paths tried, in order, when neither an explicit path nor `MEMTRAIN_BLAS_PATH` is given. Bare
 * sonames go through the dynamic loader (so `LD_LIBRARY_PATH` and Debian's alternatives apply); `libblas.so.3` is a
 * last resort and only used when it exports `cblas_sgemm`.
 */
export const DEFAULT_BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  ...["x86_64", "aarch64"].flatMap((arch) => [
    `/usr/lib/${arch}-linux-gnu/libopenblas.so.0`,
    ...["pthread", "openmp", "serial"].map((v) => `/usr/lib/${arch}-linux-gnu/openblas-${v}/libopenblas.so.0`),
  ]),
  "/usr/lib64/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libblas.so.3",
];

/** A loaded CBLAS library. */
export interface BlasLibrary {
  /** The name or path it was opened with. */
  readonly path: string;
  /** The file the loader mapped (Linux, from /proc/self/maps when readable), e.g. ".../libopenblasp-r0.3.21.so". */
  readonly file: string | undefined;
  /** `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"; undefined for non-OpenBLAS libraries. */
  readonly config: string | undefined;
  /** True when the thread count can be set (`openblas_set_num_threads` exists). */
  readonly canSetThreads: boolean;
  /** The raw `cblas_sgemm` (no bounds checks: callers must pass valid sizes). */
  readonly rawSgemm: (
    order: number,
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ) => void;
  /**
   * The raw `cblas_sgemv` (`y = alpha·op(A)·x + beta·y`; no bounds checks), or undefined when the library lacks it.
   */
  readonly rawSgemv:
    | ((
      order: number,
      trans: number,
      m: number,
      n: number,
      alpha: number,
      a: Float32Array,
      lda: number,
      x: Float32Array,
      incX: number,
      beta: number,
      y: Float32Array,
      incY: number,
    ) => void)
    | undefined;
  /** Sets the BLAS thread count (no-op for libraries without `openblas_set_num_threads`). */
  setThreads(n: number): void;
  /** The BLAS thread count, or undefined when the library cannot tell. */
  getThreads(): number | undefined;
}

const loaded = new Map<string, BlasLibrary>();

function open(path: string): BlasLibrary {
  const cached = loaded.get(path);
  if (cached) return cached;
  const lib = Deno.dlopen(path, SYMBOLS);
  const s = lib.symbols;
  const configPtr = s.openblas_get_config?.() ?? null;
  const blas: BlasLibrary = {
    path,
    file: mappedFile(path),
    config: configPtr === null ? undefined : new Deno.UnsafePointerView(configPtr).getCString().trim(),
    canSetThreads: s.openblas_set_num_threads !== null,
    rawSgemm: s.cblas_sgemm as BlasLibrary["rawSgemm"],
    rawSgemv: (s.cblas_sgemv ?? undefined) as BlasLibrary["rawSgemv"],
    setThreads: (n) => s.openblas_set_num_threads?.(n),
    getThreads: () => s.openblas_get_num_threads?.() ?? undefined,
  };
  loaded.set(path, blas);
  return blas;
}

/** Best effort: the mapped file whose name starts like `path`'s (e.g. "libopenblas" for "libopenblas.so.0"). */
function mappedFile(path: string): string | undefined {
  const stem = path.split("/").pop()!.replace(/\.(so|dylib).*$/, "");
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/proc/self/maps" }).state !== "granted") return undefined;
    const files = Deno.readTextFileSync("/proc/self/maps").split("\n").map((l) => l.split(/\s+/)[5] ?? "");
    return files.find((f) => f.split("/").pop()!.startsWith(stem));
  } catch {
    return undefined;
  }
}

/** The outcome of {@linkcode findBlas}. */
export interface FindBlasResult {
  /** The first library that loaded, if any. */
  lib?: BlasLibrary;
  /** Each candidate tried before it (or all of them), with the reason it failed. */
  failures: { path: string; reason: string }[];
}

/**
 * The candidates to try: `path` if given, else `MEMTRAIN_BLAS_PATH` in `env` if set (only that one: an explicit path
 * is never silently replaced by a system library), else {@linkcode DEFAULT_BLAS_CANDIDATES}. This module reads no
 * environment: `env` defaults to none, and `initBackend` resolves `MEMTRAIN_BLAS_PATH` into its `blasPath` option.
 *
 * @example Usage
 * ```ts
 * import { blasCandidates } from "./blas.ts";
 * blasCandidates("/opt/lib/libopenblas.so"); // ["/opt/lib/libopenblas.so"]
 * blasCandidates(undefined, (name) => ({ MEMTRAIN_BLAS_PATH: "/y" } as Record<string, string>)[name]); // ["/y"]
 * ```
 */
export function blasCandidates(path?: string, env: (name: string) => string | undefined = noEnv): string[] {
  if (path !== undefined) return [path];
  const fromEnv = env("MEMTRAIN_BLAS_PATH");
  return fromEnv ? [fromEnv] : [...DEFAULT_BLAS_CANDIDATES];
}

function noEnv(_name: string): string | undefined {
  return undefined;
}

function shortReason(e: unknown, symbol = "cblas_sgemm"): string {
  if (e instanceof Deno.errors.NotCapable) return "no --allow-ffi permission";
  const msg = e instanceof Error ? e.message : String(e);
  if (/cannot open shared object|no such file|image not found/i.test(msg)) return "not found";
  if (/symbol/i.test(msg) || msg.includes(symbol)) return `no ${symbol}`;
  return msg.split("\n")[0].slice(0, 120);
}

/**
 * Opens the first of `candidates` that loads with all the required `symbols` (a generic form of
 * {@linkcode findBlas}, for other libraries of the same package such as LAPACK). Nothing is cached.
 *
 * @param candidates Sonames or paths, tried in order.
 * @param symbols The FFI interface to bind.
 * @param symbol The symbol named in a failure reason ("no <symbol>").
 * @returns The library and the candidate it came from, or only the failures.
 *
 * @example Usage
 * ```ts
 * import { dlopenFirst } from "./blas.ts";
 * import assert from "node:assert/strict";
 *
 * const { lib, failures } = dlopenFirst(["/nonexistent/libx.so"], { f: { parameters: [], result: "void" } }, "f");
 * assert.equal(lib, undefined);
 * assert.equal(failures[0].reason, "not found");
 * ```
 */
export function dlopenFirst<S extends Deno.ForeignLibraryInterface>(
  candidates: readonly string[],
  symbols: S,
  symbol: string,
): { lib?: Deno.DynamicLibrary<S>; path?: string; failures: FindBlasResult["failures"] } {
  const failures: FindBlasResult["failures"] = [];
  for (const path of candidates) {
    try {
      return { lib: Deno.dlopen(path, symbols), path, failures };
    } catch (e) {
      failures.push({ path, reason: shortReason(e, symbol) });
    }
  }
  return { failures };
}

const found = new Map<string, BlasLibrary>(); // candidate list -> the library it found

/**
 * Tries {@linkcode blasCandidates} in order and returns the first library that opens with `cblas_sgemm`. A success is
 * remembered per candidate list (later calls do not retry the failing candidates).
 */
export function findBlas(path?: string): FindBlasResult {
  const candidates = blasCandidates(path);
  const key = candidates.join("\n");
  const hit = found.get(key);
  if (hit) return { lib: hit, failures: [] };
  const failures: FindBlasResult["failures"] = [];
  for (const candidate of candidates) {
    try {
      const lib = open(candidate);
      found.set(key, lib);
      return { lib, failures };
    } catch (e) {
      failures.push({ path: candidate, reason: shortReason(e) });
    }
  }
  return { failures };
}

/** One line saying what {@linkcode findBlas} tried, e.g. `tried /x (not found), libblas.so.3 (no cblas_sgemm)`. */
export function describeFailures(failures: FindBlasResult["failures"]): string {
  return `tried ${failures.map((f) => `${f.path} (${f.reason})`).join(", ")}`;
}

/**
 * Loads the BLAS library (see {@linkcode blasCandidates}). Cached per path.
 *
 * @example Usage
 * ```ts ignore
 * const lib = loadBlas();
 * lib.setThreads(2);
 * ```
 * @throws {RangeError} when no candidate loads; the message lists what was tried and why it failed.
 */
export function loadBlas(path?: string): BlasLibrary {
  const { lib, failures } = findBlas(path);
  if (lib) return lib;
  throw new RangeError(
    `Cannot load BLAS: no library with cblas_sgemm found (${describeFailures(failures)}); ` +
      "install libopenblas0-pthread or set MEMTRAIN_BLAS_PATH",
  );
}

/** Options for {@linkcode blasSgemm}. */
export interface SgemmOptions {
  /** Use Aᵀ: `a` is stored k×m. @default {false} */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored n×k. @default {false} */
  transB?: boolean;
  /** Scale of the product. @default {1} */
  alpha?: number;
  /** Scale of the existing `c` (0: its old values, even NaN, are ignored). @default {0} */
  beta?: number;
  /** Row stride of `a`. @default {the stored row length} */
  lda?: number;
  /** Row stride of `b`. @default {the stored row length} */
  ldb?: number;
  /** Row stride of `c`. @default {n} */
  ldc?: number;
  /** The library to use. @default {loadBlas()} */
  lib?: BlasLibrary;
}

function checkMatrix(name: string, arr: Float32Array, rows: number, cols: number, ld: number): void {
  if (!Number.isInteger(ld) || ld < Math.max(1, cols)) {
    throw new RangeError(
      `Cannot run sgemm: 'ld${name}' must be an integer >= ${Math.max(1, cols)}: current value is ${ld}`,
    );
  }
  const need = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  if (arr.length < need) {
    throw new RangeError(
      `Cannot run sgemm: '${name}' must hold at least ${need} elements (${rows}x${cols}, ld ${ld}): current length is ${arr.length}`,
    );
  }
}

/**
 * Row-major single-precision GEMM, `c = alpha * op(a) * op(b) + beta * c`, where op(a) is m×k and op(b) is k×n.
 * Sizes and strides are checked against the array lengths before the native call.
 *
 * @example Usage
 * ```ts ignore
 * const c = new Float32Array(4);
 * blasSgemm(2, 2, 3, Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(1, 0, 0, 1, 1, 1), c);
 * // c = [4, 5, 10, 11]
 * ```
 * @throws {RangeError} for negative or non-integer sizes, too-small strides or arrays, or no loadable library.
 */
export function blasSgemm(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  options: SgemmOptions = {},
): void {
  for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`Cannot run sgemm: '${name}' must be a non-negative integer: current value is ${v}`);
    }
  }
  const { transA = false, transB = false, alpha = 1, beta = 0 } = options;
  const [aRows, aCols] = transA ? [k, m] : [m, k];
  const [bRows, bCols] = transB ? [n, k] : [k, n];
  const lda = options.lda ?? Math.max(1, aCols), ldb = options.ldb ?? Math.max(1, bCols);
  const ldc = options.ldc ?? Math.max(1, n);
  checkMatrix("a", a, aRows, aCols, lda);
  checkMatrix("b", b, bRows, bCols, ldb);
  checkMatrix("c", c, m, n, ldc);
  if (m === 0 || n === 0) return;
  if (k === 0) { // C = beta * C; BLAS would also do this, but lda/ldb of 0-wide matrices are edge cases
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) c[i * ldc + j] = beta === 0 ? 0 : beta * c[i * ldc + j];
    }
    return;
  }
  const lib = options.lib ?? loadBlas();
  const tA = transA ? CBLAS.Trans : CBLAS.NoTrans, tB = transB ? CBLAS.Trans : CBLAS.NoTrans;
  lib.rawSgemm(CBLAS.RowMajor, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
