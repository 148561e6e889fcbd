/**
 * SIMD (f32x4) loops for the fused kernels, as a small WebAssembly module assembled here at load time (no build step,
 * no binary blob) and instantiated on the tfjs wasm backend's own `WebAssembly.Memory`, so it reads and writes tensors
 * in place at their heap offsets. Plain JS loops run ~1.5-7 ns per element on this machine kind (scalar float64, no
 * vectorization, `Math.exp` ~15 ns); these run ~4x fewer instructions and need no JS transcendental functions.
 *
 * Every function takes byte offsets (i32) and element counts; vector loops cover `4·floor(n/4)` elements and callers
 * finish the (at most 3-element) tail, or (row kernels) require rows whose length is a multiple of 4.
 * @module
 */

// ---------------------------------------------------------------------------------------------------------------
// A minimal assembler: bytes for the instructions used below.

type Bytes = number[];

function uleb(v: number): Bytes {
  const out: Bytes = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(v: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function f32bytes(v: number): Bytes {
  return [...new Uint8Array(Float32Array.of(v).buffer)];
}

function str(s: string): Bytes {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

function vec(items: Bytes[]): Bytes {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: Bytes): Bytes {
  return [id, ...uleb(body.length), ...body];
}

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const simd = (code: number, ...rest: Bytes) => [0xfd, ...uleb(code), ...rest];

/** Instruction encoders (stack machine; see the WebAssembly core and SIMD specs). */
const I = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  f32: (v: number) => [0x43, ...f32bytes(v)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  i32Eqz: [0x45],
  f32Load: (offset = 0) => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0) => [0x38, 2, ...uleb(offset)],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Sqrt: [0x91],
  load: (offset = 0) => simd(0x00, 4, ...uleb(offset)),
  store: (offset = 0) => simd(0x0b, 4, ...uleb(offset)),
  splat: simd(0x13),
  lane: (l: number) => simd(0x1f, l),
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
  div: simd(0xe7),
  sqrt: simd(0xe3),
  pmin: simd(0xea),
  pmax: simd(0xeb),
  i32x4Add: simd(0xae),
  i32x4Shl: simd(0xab),
  i32x4Splat: simd(0x11),
};

/** A function under construction: params first, then locals added with {@linkcode Fn.local}. */
class Fn {
  readonly code: Bytes[] = [];
  readonly locals: number[] = [];
  /** f32x4 splat constants → the local holding them, set once in the function's prologue. */
  readonly #constants = new Map<string, { bytes: Bytes; local: number }>();
  constructor(readonly name: string, readonly params: number[]) {}
  /** Declares a local of `type`; returns its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }
  /**
   * The local holding the f32x4 `[c, c, c, c]`. V8 rebuilds a `v128.const` from immediates at every use (several
   * instructions) and does not hoist it out of loops, so each constant is materialized once, before the body.
   */
  constant(c: number): number {
    const lane = f32bytes(c);
    return this.constantBytes([...lane, ...lane, ...lane, ...lane]);
  }
  /** The local holding the v128 with these 16 bytes (see {@linkcode Fn.constant}). */
  constantBytes(bytes: Bytes): number {
    const key = bytes.join(","); // by bits: 0 and −0 differ
    let entry = this.#constants.get(key);
    if (entry === undefined) {
      entry = { bytes, local: this.local(V128) };
      this.#constants.set(key, entry);
    }
    return entry.local;
  }
  /** Appends instructions. */
  emit(...parts: (Bytes | number)[]): this {
    for (const p of parts) this.code.push(typeof p === "number" ? [p] : p);
    return this;
  }
  body(): Bytes {
    const groups = this.locals.map((t) => [...uleb(1), t]);
    const prologue: number[] = [];
    for (const { bytes, local } of this.#constants.values()) prologue.push(...simd(0x0c, ...bytes), ...I.set(local));
    const bytes = [...vec(groups), ...prologue, ...this.code.flat(), ...I.end];
    return [...uleb(bytes.length), ...bytes];
  }
}

/** `for (i = 0; i < n; i++) body()` with `i` an i32 local. */
function forLoop(f: Fn, i: number, n: number, body: () => void): void {
  f.emit(I.i32(0), I.set(i), I.block, I.loop);
  f.emit(I.get(i), I.get(n), I.i32GeU, I.brIf(1));
  body();
  f.emit(I.get(i), I.i32(1), I.i32Add, I.set(i), I.br(0), I.end, I.end);
}

/** Pushes the address `base + 16·i` (bytes) of vector `i`. */
function vaddr(f: Fn, base: number, i: number): void {
  f.emit(I.get(base), I.get(i), I.i32(4), I.i32Shl, I.i32Add);
}

/** Pushes the f32x4 `[c, c, c, c]` (a local set once per call, see {@linkcode Fn.constant}). */
function vconst(f: Fn, c: number): void {
  f.emit(I.get(f.constant(c)));
}

/** Pushes the i32x4 with lanes `lanes` (a local set once per call). */
function vconstI32(f: Fn, lanes: [number, number, number, number]): void {
  const bytes = lanes.flatMap((v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  f.emit(I.get(f.constantBytes(bytes)));
}

/** 1.5·2^23: adding it to a float below 2^22 in magnitude rounds it to an integer held in the low mantissa bits. */
const MAGIC = 12582912;

/**
 * Pushes `exp(x)` for the f32x4 in local `x` (clobbers `t`, `k`, `u`, `r2`): Cody-Waite range reduction `x = k·ln2 + r`,
 * a degree-6 Taylor polynomial on |r| <= ln2/2 (relative error < 2e-7), and `2^k` built in the exponent bits. The
 * rounding of `x·log2 e` uses the 1.5·2^23 trick, so the integer `k` is already in the low bits of `u` (no
 * float-to-int conversion). Inputs are clamped to [-87.3, 88] (so `k` stays in [-126, 127] and results finite and
 * normal). Uses `pmin`/`pmax` (single instructions; the NaN-propagating `min`/`max` expand to several).
 */
function vexp(f: Fn, x: number, t: number, k: number, u: number, r2: number): void {
  vconst(f, 88);
  f.emit(I.get(x), I.pmin);
  vconst(f, -87.3);
  f.emit(I.pmax, I.tee(t)); // t = clamp(x)
  vconst(f, Math.LOG2E);
  f.emit(I.mul);
  vconst(f, MAGIC);
  f.emit(I.add, I.tee(u)); // u = round(t·log2 e) + MAGIC
  vconst(f, MAGIC);
  f.emit(I.sub, I.set(k)); // k = round(t·log2 e)
  f.emit(I.get(t), I.get(k));
  vconst(f, 0.693145751953125); // ln2 high part (9 trailing zero bits: k·hi is exact)
  f.emit(I.mul, I.sub, I.get(k));
  vconst(f, 1.428606765330187e-6); // ln2 − hi
  f.emit(I.mul, I.sub, I.tee(t), I.get(t), I.mul, I.set(r2)); // t = r, r2 = r²
  // Estrin (shorter dependency chain than Horner): (1 + r) + r²·((1/2 + r/6) + r²·(1/24 + r/120 + r²/720))
  vconst(f, 1);
  f.emit(I.get(t), I.add);
  vconst(f, 1 / 2);
  f.emit(I.get(t));
  vconst(f, 1 / 6);
  f.emit(I.mul, I.add);
  vconst(f, 1 / 24);
  f.emit(I.get(t));
  vconst(f, 1 / 120);
  f.emit(I.mul, I.add, I.get(r2));
  vconst(f, 1 / 720);
  f.emit(I.mul, I.add, I.get(r2), I.mul, I.add, I.get(r2), I.mul, I.add);
  // · 2^k: the bits of u are MAGIC's + k; (bits + 127) << 23 drops MAGIC's bits (its low 9 bits are zero)
  f.emit(I.get(u), I.i32(127), I.i32x4Splat, I.i32x4Add, I.i32(23), I.i32x4Shl, I.mul);
}

// ---------------------------------------------------------------------------------------------------------------
// The kernels.

const C_GELU = Math.sqrt(2 / Math.PI);
/** gelu(x) = x·sigmoid(z), z = x·(K1 + K3·x²). */
const K1 = 2 * C_GELU, K3 = 2 * C_GELU * 0.044715;

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
function gelu(): Fn {
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
function geluGrad(): Fn {
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

/**
 * adam(g, m, v, p, m2, v2, u, n4, b1, b2, c1, c2, k, epsHat, kw): m2 = b1·m + c1·g, v2 = b2·v + c2·g²,
 * u = k·m2 / (√v2 + epsHat) + kw·p (p is read only when kw ≠ 0).
 */
function adam(): Fn {
  const f = new Fn("adam", [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32]);
  const [g, m, v, p, m2, v2, u, n, b1, b2, c1, c2, kk, eps, kw] = [...Array(15).keys()];
  const i = f.local(I32), gv = f.local(V128), mv = f.local(V128), vv = f.local(V128);
  const B1 = f.local(V128), B2 = f.local(V128), C1 = f.local(V128), C2 = f.local(V128);
  const KK = f.local(V128), EPS = f.local(V128), KW = f.local(V128), decay = f.local(I32);
  for (const [src, dst] of [[b1, B1], [b2, B2], [c1, C1], [c2, C2], [kk, KK], [eps, EPS], [kw, KW]]) {
    f.emit(I.get(src), I.splat, I.set(dst));
  }
  f.emit(I.get(kw), I.f32(0), [0x5c], I.set(decay)); // f32.ne
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

/** Pushes the sum of the 4 lanes of the f32x4 in local `a`. */
function hsum(f: Fn, a: number): void {
  f.emit(I.get(a), I.lane(0), I.get(a), I.lane(1), I.f32Add, I.get(a), I.lane(2), I.f32Add);
  f.emit(I.get(a), I.lane(3), I.f32Add);
}

/**
 * layerNorm(x, g, b, y, mean, rstd, rows, d4, eps): per row of 4·d4 floats, mean and rstd = 1/√(var + eps) (stored
 * as floats), y = (x − mean)·rstd·g + b.
 */
function layerNorm(): Fn {
  const f = new Fn("layerNorm", [I32, I32, I32, I32, I32, I32, I32, I32, F32]);
  const [x, g, b, y, mean, rstd, rows, d4, eps] = [...Array(9).keys()];
  const r = f.local(I32), j = f.local(I32), row = f.local(I32), yrow = f.local(I32);
  const acc = f.local(V128), c = f.local(V128), mu = f.local(F32), rs = f.local(F32), MU = f.local(V128);
  const RS = f.local(V128), dn = f.local(F32);
  f.emit(I.get(d4), I.i32(4), I.i32Mul, [0xb3], I.set(dn)); // f32.convert_i32_u
  forLoop(f, r, rows, () => {
    f.emit(I.get(r), I.get(d4), I.i32Mul, I.i32(4), I.i32Shl); // row byte offset = r·d4·16
    f.emit(I.tee(row), I.get(y), I.i32Add, I.set(yrow), I.get(row), I.get(x), I.i32Add, I.set(row));
    vconst(f, 0);
    f.emit(I.set(acc));
    forLoop(f, j, d4, () => {
      f.emit(I.get(acc));
      vaddr(f, row, j);
      f.emit(I.load(), I.add, I.set(acc));
    });
    hsum(f, acc);
    f.emit(I.get(dn), I.f32Div, I.tee(mu), I.splat, I.set(MU));
    vconst(f, 0);
    f.emit(I.set(acc));
    forLoop(f, j, d4, () => {
      vaddr(f, row, j);
      f.emit(I.load(), I.get(MU), I.sub, I.tee(c), I.get(c), I.mul, I.get(acc), I.add, I.set(acc));
    });
    f.emit(I.f32(1));
    hsum(f, acc);
    f.emit(I.get(dn), I.f32Div, I.get(eps), I.f32Add, I.f32Sqrt, I.f32Div, I.tee(rs), I.splat, I.set(RS));
    // mean[r], rstd[r]
    f.emit(I.get(mean), I.get(r), I.i32(2), I.i32Shl, I.i32Add, I.get(mu), I.f32Store());
    f.emit(I.get(rstd), I.get(r), I.i32(2), I.i32Shl, I.i32Add, I.get(rs), I.f32Store());
    forLoop(f, j, d4, () => {
      vaddr(f, yrow, j);
      vaddr(f, row, j);
      f.emit(I.load(), I.get(MU), I.sub, I.get(RS), I.mul);
      vaddr(f, g, j);
      f.emit(I.load(), I.mul);
      vaddr(f, b, j);
      f.emit(I.load(), I.add, I.store());
    });
  });
  return f;
}

/**
 * layerNormGrad(dy, x, mean, rstd, g, dx, dg, db, rows, d4): dg and db must be zeroed by the caller (they are
 * accumulated over rows); dx = rstd·(dy·g − mean(dy·g) − x̂·mean(dy·g·x̂)), x̂ = (x − mean)·rstd.
 */
function layerNormGrad(): Fn {
  const f = new Fn("layerNormGrad", [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [dy, x, mean, rstd, g, dx, dg, db, rows, d4] = [...Array(10).keys()];
  const r = f.local(I32), j = f.local(I32), off = f.local(I32), xr = f.local(I32), dyr = f.local(I32);
  const dxr = f.local(I32), MU = f.local(V128), RS = f.local(V128), xh = f.local(V128), dyv = f.local(V128);
  const dxh = f.local(V128), a1 = f.local(V128), a2 = f.local(V128), M1 = f.local(V128), M2 = f.local(V128);
  const dn = f.local(F32);
  f.emit(I.get(d4), I.i32(4), I.i32Mul, [0xb3], I.set(dn));
  forLoop(f, r, rows, () => {
    f.emit(I.get(r), I.get(d4), I.i32Mul, I.i32(4), I.i32Shl, I.set(off));
    f.emit(I.get(off), I.get(x), I.i32Add, I.set(xr), I.get(off), I.get(dy), I.i32Add, I.set(dyr));
    f.emit(I.get(off), I.get(dx), I.i32Add, I.set(dxr));
    f.emit(I.get(mean), I.get(r), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.splat, I.set(MU));
    f.emit(I.get(rstd), I.get(r), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.splat, I.set(RS));
    vconst(f, 0);
    f.emit(I.tee(a1), I.set(a2));
    forLoop(f, j, d4, () => {
      vaddr(f, xr, j);
      f.emit(I.load(), I.get(MU), I.sub, I.get(RS), I.mul, I.set(xh));
      vaddr(f, dyr, j);
      f.emit(I.load(), I.tee(dyv));
      vaddr(f, g, j);
      f.emit(I.load(), I.mul, I.set(dxh));
      f.emit(I.get(a1), I.get(dxh), I.add, I.set(a1), I.get(a2), I.get(dxh), I.get(xh), I.mul, I.add, I.set(a2));
      vaddr(f, dg, j);
      vaddr(f, dg, j);
      f.emit(I.load(), I.get(dyv), I.get(xh), I.mul, I.add, I.store());
      vaddr(f, db, j);
      vaddr(f, db, j);
      f.emit(I.load(), I.get(dyv), I.add, I.store());
    });
    hsum(f, a1);
    f.emit(I.get(dn), I.f32Div, I.splat, I.set(M1));
    hsum(f, a2);
    f.emit(I.get(dn), I.f32Div, I.splat, I.set(M2));
    forLoop(f, j, d4, () => {
      vaddr(f, dxr, j);
      vaddr(f, dyr, j);
      f.emit(I.load());
      vaddr(f, g, j);
      f.emit(I.load(), I.mul, I.get(M1), I.sub);
      vaddr(f, xr, j);
      f.emit(I.load(), I.get(MU), I.sub, I.get(RS), I.mul, I.get(M2), I.mul, I.sub, I.get(RS), I.mul, I.store());
    });
  });
  return f;
}

/** softmaxGrad(p, dp, ds, rows, s4, scale): ds = scale·p·(dp − Σ dp·p) per row of 4·s4 floats. */
function softmaxGrad(): Fn {
  const f = new Fn("softmaxGrad", [I32, I32, I32, I32, I32, F32]);
  const [p, dp, ds, rows, s4, scale] = [...Array(6).keys()];
  const r = f.local(I32), j = f.local(I32), off = f.local(I32), pr = f.local(I32), dpr = f.local(I32);
  const dsr = f.local(I32), acc = f.local(V128), DOT = f.local(V128), SC = f.local(V128);
  f.emit(I.get(scale), I.splat, I.set(SC));
  forLoop(f, r, rows, () => {
    f.emit(I.get(r), I.get(s4), I.i32Mul, I.i32(4), I.i32Shl, I.set(off));
    f.emit(I.get(off), I.get(p), I.i32Add, I.set(pr), I.get(off), I.get(dp), I.i32Add, I.set(dpr));
    f.emit(I.get(off), I.get(ds), I.i32Add, I.set(dsr));
    vconst(f, 0);
    f.emit(I.set(acc));
    forLoop(f, j, s4, () => {
      f.emit(I.get(acc));
      vaddr(f, pr, j);
      f.emit(I.load());
      vaddr(f, dpr, j);
      f.emit(I.load(), I.mul, I.add, I.set(acc));
    });
    hsum(f, acc);
    f.emit(I.splat, I.set(DOT));
    forLoop(f, j, s4, () => {
      vaddr(f, dsr, j);
      vaddr(f, pr, j);
      f.emit(I.load(), I.get(SC), I.mul);
      vaddr(f, dpr, j);
      f.emit(I.load(), I.get(DOT), I.sub, I.mul, I.store());
    });
  });
  return f;
}

/**
 * scaleMask(x, z, rows, t, s4, scale, causal): z = x·scale, and where `causal` ≠ 0 the entries above the diagonal
 * (column > row mod t) get −1e9 added, as the stock attention's additive mask does.
 */
function scaleMask(): Fn {
  const f = new Fn("scaleMask", [I32, I32, I32, I32, I32, F32, I32]);
  const [x, z, rows, t, s4, scale, causal] = [...Array(7).keys()];
  const r = f.local(I32), j = f.local(I32), off = f.local(I32), SC = f.local(V128), q = f.local(I32);
  const xr = f.local(I32), zr = f.local(I32);
  f.emit(I.get(scale), I.splat, I.set(SC));
  forLoop(f, r, rows, () => {
    f.emit(I.get(r), I.get(s4), I.i32Mul, I.i32(4), I.i32Shl, I.set(off));
    f.emit(I.get(off), I.get(x), I.i32Add, I.set(xr), I.get(off), I.get(z), I.i32Add, I.set(zr));
    forLoop(f, j, s4, () => {
      vaddr(f, zr, j);
      vaddr(f, xr, j);
      f.emit(I.load(), I.get(SC), I.mul, I.store());
    });
    // causal: columns c > r mod t get −1e9 (scalar; the masked triangle is written once per row)
    f.emit(I.get(causal), I.if);
    f.emit(I.get(r), I.get(r), I.get(t), [0x6e], I.get(t), I.i32Mul, I.i32Sub, I.i32(1), I.i32Add, I.set(q)); // i32.div_u
    f.emit(I.block, I.loop, I.get(q), I.get(s4), I.i32(2), I.i32Shl, I.i32GeU, I.brIf(1));
    f.emit(I.get(zr), I.get(q), I.i32(2), I.i32Shl, I.i32Add);
    f.emit(I.get(zr), I.get(q), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(-1e9), I.f32Add, I.f32Store());
    f.emit(I.get(q), I.i32(1), I.i32Add, I.set(q), I.br(0), I.end, I.end);
    f.emit(I.end);
  });
  return f;
}

function assemble(fns: Fn[]): Uint8Array<ArrayBuffer> {
  const sigs: string[] = [];
  const typeIdx = fns.map((fn) => {
    const key = fn.params.join(",");
    if (!sigs.includes(key)) sigs.push(key);
    return sigs.indexOf(key);
  });
  const types = sigs.map((k) => [0x60, ...vec(k.split(",").map((t) => [Number(t)])), 0]);
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, 0x00, 0x00]])),
    ...section(3, vec(typeIdx.map((t) => uleb(t)))),
    ...section(7, vec(fns.map((fn, i) => [...str(fn.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((fn) => fn.body()))),
  ];
  return new Uint8Array(bytes);
}

/** The SIMD functions, bound to one memory. All pointers are byte offsets; see each builder for its arguments. */
export interface SimdKernels {
  gelu(x: number, y: number, n4: number): void;
  geluGrad(x: number, dy: number, dx: number, n4: number): void;
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
  layerNorm(
    x: number,
    g: number,
    b: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    d4: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: number,
    x: number,
    mean: number,
    rstd: number,
    g: number,
    dx: number,
    dg: number,
    db: number,
    rows: number,
    d4: number,
  ): void;
  softmaxGrad(p: number, dp: number, ds: number, rows: number, s4: number, scale: number): void;
  scaleMask(x: number, z: number, rows: number, t: number, s4: number, scale: number, causal: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * Instantiates the SIMD kernels on `memory` (the tfjs wasm backend's). Returns null when this engine cannot compile
 * the module (no WebAssembly SIMD): callers fall back to plain JS loops.
 */
export function simdKernels(memory: WebAssembly.Memory): SimdKernels | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(
        assemble([gelu(), geluGrad(), adam(), layerNorm(), layerNormGrad(), softmaxGrad(), scaleMask()]),
      );
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as SimdKernels;
}

// ---------------------------------------------------------------------------------------------------------------
// Mesa's quantizer loops (`fused_mesa.ts`), a separate module so the kernels above are untouched.

/** The range epsilon added to α: `RANGE_EPS` of `lib/mesa/quantize.ts` (as float32). */
const MESA_EPS = 1e-8;

/** Raw encoders for the Mesa loops (scalar integer ops, byte loads/stores, u8 → f32 widening). */
const M = {
  i32Xor: [0x73],
  i32ShrU: [0x76],
  i32LtU: [0x49],
  f32Min: [0x96],
  f32Max: [0x97],
  f32ConvertI32S: [0xb2],
  i32TruncSatF32S: [0xfc, 0x00],
  i32Store8: [0x3a, 0, 0],
  ifF32: [0x04, F32],
  else: [0x05],
  load32Zero: simd(0x5c, 2, 0),
  i16x8ExtendLowI8x16U: simd(0x89),
  i32x4ExtendLowI16x8U: simd(0xa9),
  f32x4ConvertI32x4S: simd(0xfa),
  f32Gt: [0x5e],
  i32And: [0x71],
  ifV128: [0x04, V128],
  i32x4TruncSatF32x4S: simd(0xf8),
  i16x8NarrowI32x4U: simd(0x86),
  i8x16NarrowI16x8U: simd(0x66),
  store32Lane0: simd(0x5a, 2, 0, 0),
  select: [0x1b],
  i32Mul: [0x6c],
  v128Xor: simd(0x51),
  i32x4ShrU: simd(0xad),
  i32x4Mul: simd(0xb5),
};

/** `while (p < end) { body(); }` with `p`, `end` i32 locals (the body must advance `p`). */
function whileBelow(f: Fn, p: number, end: number, body: () => void): void {
  f.emit(I.block, I.loop, I.get(p), I.get(end), I.i32GeU, I.brIf(1));
  body();
  f.emit(I.br(0), I.end, I.end);
}

/** `p += k` for an i32 local. */
function bump(f: Fn, p: number, k: number): void {
  f.emit(I.get(p), I.i32(k), I.i32Add, I.set(p));
}

/**
 * `mesaMinMax(x, pre, groups, rest4, mn, mx)`: per-group min and max of the float32 `[pre, G, 4·rest4]` tensor at
 * `x` (rest4 ≥ 1), written as float32 to `mn[g]` and `mx[g]`. Vector `pmin`/`pmax` accumulators (a NaN element is
 * skipped unless it is a group's first vector), then a lane reduction.
 */
function mesaMinMax(): Fn {
  const f = new Fn("mesaMinMax", [I32, I32, I32, I32, I32, I32]);
  const [x, pre, groups, rest4, mn, mx] = [...Array(6).keys()];
  const g = f.local(I32), p = f.local(I32), ptr = f.local(I32), end = f.local(I32), row = f.local(I32);
  const lo = f.local(V128), hi = f.local(V128), v = f.local(V128), s = f.local(F32), t = f.local(F32);
  f.emit(I.get(rest4), I.i32(4), I.i32Shl, I.set(row)); // bytes per (p, g) block
  forLoop(f, g, groups, () => {
    // first vector of the group initializes both accumulators
    f.emit(I.get(x), I.get(g), I.get(row), I.i32Mul, I.i32Add, I.load(), I.tee(lo), I.set(hi));
    forLoop(f, p, pre, () => {
      // ptr = x + ((p·G + g)·row)
      f.emit(I.get(x), I.get(p), I.get(groups), I.i32Mul, I.get(g), I.i32Add, I.get(row), I.i32Mul, I.i32Add);
      f.emit(I.tee(ptr), I.get(row), I.i32Add, I.set(end));
      whileBelow(f, ptr, end, () => {
        f.emit(I.get(ptr), I.load(), I.set(v));
        f.emit(I.get(lo), I.get(v), I.pmin, I.set(lo), I.get(hi), I.get(v), I.pmax, I.set(hi));
        bump(f, ptr, 16);
      });
    });
    for (const [acc, out, red] of [[lo, mn, M.f32Min], [hi, mx, M.f32Max]] as const) {
      f.emit(I.get(acc), I.lane(0), I.get(acc), I.lane(1), red, I.set(s));
      f.emit(I.get(acc), I.lane(2), I.get(acc), I.lane(3), red, I.set(t));
      f.emit(I.get(out), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.get(s), I.get(t), red, I.f32Store());
    }
  });
  return f;
}

/** Noise hash constants (`uniformAt` in `lib/mesa/noise.ts`): golden ratio, then the murmur3 finalizer's. */
const PHI = 0x9e3779b1 | 0, C1 = 0x85ebca6b | 0, C2 = 0xc2b2ae35 | 0;

/**
 * Pushes the f32x4 noise `uniformAt(key, i)` for the four element indices `idx..idx+3`, where `idx` (i32) is on the
 * stack and `K` holds the key in every lane; `h` is a v128 scratch local.
 */
function vNoise(f: Fn, K: number, h: number): void {
  f.emit(I.i32x4Splat);
  vconstI32(f, [0, 1, 2, 3]);
  f.emit(I.i32x4Add);
  vconstI32(f, [PHI, PHI, PHI, PHI]);
  f.emit(M.i32x4Mul, I.get(K), M.v128Xor, I.tee(h));
  f.emit(I.get(h), I.i32(16), M.i32x4ShrU, M.v128Xor);
  vconstI32(f, [C1, C1, C1, C1]);
  f.emit(M.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(13), M.i32x4ShrU, M.v128Xor);
  vconstI32(f, [C2, C2, C2, C2]);
  f.emit(M.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(16), M.i32x4ShrU, M.v128Xor, I.i32(8), M.i32x4ShrU, M.f32x4ConvertI32x4S);
  vconst(f, 5.960464477539063e-8);
  f.emit(I.mul);
}

/** Pushes the f32 noise `uniformAt(key, idx)` for the index `idx` (i32) on the stack; `h` is an i32 scratch local. */
function sNoise(f: Fn, key: number, h: number): void {
  f.emit(I.i32(PHI), M.i32Mul, I.get(key), M.i32Xor, I.tee(h));
  f.emit(I.get(h), I.i32(16), M.i32ShrU, M.i32Xor, I.i32(C1), M.i32Mul, I.tee(h));
  f.emit(I.get(h), I.i32(13), M.i32ShrU, M.i32Xor, I.i32(C2), M.i32Mul, I.tee(h));
  f.emit(I.get(h), I.i32(16), M.i32ShrU, M.i32Xor, I.i32(8), M.i32ShrU, M.f32ConvertI32S);
  f.emit(I.f32(5.960464477539063e-8), I.f32Mul);
}

/**
 * `mesaQuantize(x, c, pre, groups, rest, alpha, beta, state, nearest)`: byte codes
 * `trunc(clamp((x − β_g)·(255/(α_g + eps)) + u, 0, 255))` of the float32 `[pre, G, rest]` tensor at `x`, written to
 * `c` (one byte each), every step a float32 operation; `u` is ½ when `nearest` ≠ 0, else `uniformAt(key, i)` of
 * `lib/mesa/noise.ts` for the element's flat index `i` (a counter-based hash, four lanes at a time). The noise,
 * arithmetic, clamp and narrowing to bytes run on f32x4, then a scalar tail.
 */
function mesaQuantize(): Fn {
  const eps = MESA_EPS;
  const f = new Fn("mesaQuantize", [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [x, c, pre, groups, rest, alpha, beta, key, nearest] = [...Array(9).keys()];
  const p = f.local(I32), g = f.local(I32), end = f.local(I32), scale = f.local(F32), b = f.local(F32);
  const r = f.local(F32), end4 = f.local(I32), S = f.local(V128), B = f.local(V128), u = f.local(V128);
  const x0 = f.local(I32), K = f.local(V128), h = f.local(V128), hs = f.local(I32);
  const xk = x; // advanced by 4 bytes per element, as c by 1
  f.emit(I.get(x), I.set(x0), I.get(key), I.i32x4Splat, I.set(K));
  const index = () => f.emit(I.get(xk), I.get(x0), I.i32Sub, I.i32(2), M.i32ShrU); // flat element index
  forLoop(f, p, pre, () => {
    forLoop(f, g, groups, () => {
      f.emit(I.f32(255), I.get(alpha), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(eps), I.f32Add);
      f.emit(I.f32Div, I.tee(scale), I.splat, I.set(S));
      f.emit(I.get(beta), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.tee(b), I.splat, I.set(B));
      f.emit(I.get(c), I.get(rest), I.i32Add, I.set(end));
      f.emit(I.get(c), I.get(rest), I.i32(-4), M.i32And, I.i32Add, I.set(end4));
      whileBelow(f, c, end4, () => {
        f.emit(I.get(c)); // store address
        f.emit(I.get(xk), I.load(), I.get(B), I.sub, I.get(S), I.mul);
        f.emit(I.get(nearest), M.ifV128);
        vconst(f, 0.5);
        f.emit(M.else);
        index();
        vNoise(f, K, h);
        f.emit(I.end, I.add);
        // clamp to [0, 255] with NaN to 0: pmin(r, 255) = 255 < r ? 255 : r, pmax(0, t) = 0 < t ? t : 0
        vconst(f, 255);
        f.emit(I.pmin, I.set(u));
        vconst(f, 0);
        f.emit(I.get(u), I.pmax, M.i32x4TruncSatF32x4S, I.tee(u), I.get(u), M.i16x8NarrowI32x4U, I.tee(u));
        f.emit(I.get(u), M.i8x16NarrowI16x8U, M.store32Lane0);
        bump(f, c, 4);
        bump(f, xk, 16);
      });
      whileBelow(f, c, end, () => {
        f.emit(I.get(c)); // store address
        f.emit(I.get(xk), I.f32Load(), I.get(b), I.f32Sub, I.get(scale), I.f32Mul);
        f.emit(I.get(nearest), M.ifF32, I.f32(0.5), M.else);
        index();
        sNoise(f, key, hs);
        f.emit(I.end);
        // r > 255 ? 255 : r > 0 ? r : 0 (NaN gives 0), then truncation (signed: the value is in [0, 255])
        f.emit(I.f32Add, I.set(r), I.f32(255), I.get(r), I.get(r), I.f32(255), M.f32Gt, M.select);
        f.emit(I.set(r), I.get(r), I.f32(0), I.get(r), I.f32(0), M.f32Gt, M.select, M.i32TruncSatF32S, M.i32Store8);
        bump(f, c, 1);
        bump(f, xk, 4);
      });
    });
  });
  return f;
}

/**
 * `mesaDequantize(c, y, pre, groups, rest4, alpha, beta)`: float32 `codes·((α_g + eps)/255) + β_g` of the byte codes
 * `[pre, G, 4·rest4]` at `c`, written to `y` (f32x4: 4 bytes widened to i32x4, converted, one multiply and add).
 */
function mesaDequantize(): Fn {
  const eps = MESA_EPS;
  const f = new Fn("mesaDequantize", [I32, I32, I32, I32, I32, I32, I32]);
  const [c, y, pre, groups, rest4, alpha, beta] = [...Array(7).keys()];
  const p = f.local(I32), g = f.local(I32), end = f.local(I32), step = f.local(V128), b = f.local(V128);
  forLoop(f, p, pre, () => {
    forLoop(f, g, groups, () => {
      f.emit(I.get(alpha), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(eps), I.f32Add, I.f32(255));
      f.emit(I.f32Div, I.splat, I.set(step));
      f.emit(I.get(beta), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.splat, I.set(b));
      f.emit(I.get(c), I.get(rest4), I.i32(2), I.i32Shl, I.i32Add, I.set(end));
      whileBelow(f, c, end, () => {
        f.emit(I.get(y), I.get(c), M.load32Zero, M.i16x8ExtendLowI8x16U, M.i32x4ExtendLowI16x8U);
        f.emit(M.f32x4ConvertI32x4S, I.get(step), I.mul, I.get(b), I.add, I.store());
        bump(f, c, 4);
        bump(f, y, 16);
      });
    });
  });
  return f;
}

/** The Mesa loops, bound to one memory. Pointers are byte offsets. */
export interface MesaSimdKernels {
  mesaMinMax(x: number, pre: number, groups: number, rest4: number, mn: number, mx: number): void;
  mesaQuantize(
    x: number,
    c: number,
    pre: number,
    groups: number,
    rest: number,
    alpha: number,
    beta: number,
    state: number,
    nearest: number,
  ): void;
  mesaDequantize(c: number, y: number, pre: number, groups: number, rest4: number, alpha: number, beta: number): void;
}

let mesaCompiled: WebAssembly.Module | null | undefined;

/**
 * Instantiates the Mesa loops on `memory` (the tfjs wasm backend's). Returns null when this engine cannot compile the
 * module (no WebAssembly SIMD).
 */
export function mesaSimdKernels(memory: WebAssembly.Memory): MesaSimdKernels | null {
  if (mesaCompiled === undefined) {
    try {
      mesaCompiled = new WebAssembly.Module(assemble([mesaMinMax(), mesaQuantize(), mesaDequantize()]));
    } catch {
      mesaCompiled = null;
    }
  }
  if (mesaCompiled === null) return null;
  return new WebAssembly.Instance(mesaCompiled, { env: { memory } }).exports as unknown as MesaSimdKernels;
}
