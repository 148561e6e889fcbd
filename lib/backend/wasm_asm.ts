/**
 * A minimal WebAssembly assembler for memtrain's SIMD (f32x4) kernel loops: instruction encoders, a function builder
 * ({@linkcode Fn}), loop and vector helpers, an f32x4 `exp`, and {@linkcode assemble} (a module importing one memory,
 * `env.memory`, and exporting the functions). Modules are assembled at load time (no build step, no binary blob) and
 * instantiated on the tfjs wasm backend's own `WebAssembly.Memory` (see `simdLoops` in `heap.ts`), so their functions
 * read and write tensors in place at their heap offsets.
 *
 * Plain JS loops run ~1.5-7 ns per element on this machine kind (scalar float64, no vectorization, `Math.exp`
 * ~15 ns); the SIMD loops run ~4x fewer instructions and need no JS transcendental functions. The kernels live with
 * their owners (`lib/nn/kernels/*`, `lib/mesa/simd.ts`, `lib/optim/adam_kernel.ts`); by convention every function
 * takes byte offsets (i32) and element counts, vector loops cover `4·floor(n/4)` elements and callers finish the (at
 * most 3-element) tail, or (row kernels) require rows whose length is a multiple of 4.
 * @module
 */

/** Encoded bytes. */
export type Bytes = number[];

/** Unsigned LEB128. */
export function uleb(v: number): Bytes {
  const out: Bytes = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128. */
export function sleb(v: number): Bytes {
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

/** The little-endian bytes of `v` as float32. */
export function f32bytes(v: number): Bytes {
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

/** Value types: i32, f32, v128. */
export const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const simd = (code: number, ...rest: Bytes) => [0xfd, ...uleb(code), ...rest];

/** Instruction encoders (stack machine; see the WebAssembly core and SIMD specs). */
export const I = {
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
  // scalar integer and float ops
  i32DivU: [0x6e],
  i32Xor: [0x73],
  i32ShrU: [0x76],
  i32LtU: [0x49],
  i32And: [0x71],
  f32Ne: [0x5c],
  f32Gt: [0x5e],
  f32Min: [0x96],
  f32Max: [0x97],
  f32ConvertI32S: [0xb2],
  f32ConvertI32U: [0xb3],
  i32TruncSatF32S: [0xfc, 0x00],
  i32Store8: [0x3a, 0, 0],
  select: [0x1b],
  // typed blocks
  ifF32: [0x04, F32],
  ifV128: [0x04, V128],
  else: [0x05],
  // byte loads/stores and widening/narrowing
  load32Zero: simd(0x5c, 2, 0),
  store32Lane0: simd(0x5a, 2, 0, 0),
  i16x8ExtendLowI8x16U: simd(0x89),
  i32x4ExtendLowI16x8U: simd(0xa9),
  i16x8NarrowI32x4U: simd(0x86),
  i8x16NarrowI16x8U: simd(0x66),
  f32x4ConvertI32x4S: simd(0xfa),
  i32x4TruncSatF32x4S: simd(0xf8),
  v128Xor: simd(0x51),
  i32x4ShrU: simd(0xad),
  i32x4Mul: simd(0xb5),
};

/** A function under construction: params first, then locals added with {@linkcode Fn.local}. */
export class Fn {
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
  /** The encoded code-section entry (size, locals, constant prologue, code, end). */
  body(): Bytes {
    const groups = this.locals.map((t) => [...uleb(1), t]);
    const prologue: number[] = [];
    for (const { bytes, local } of this.#constants.values()) prologue.push(...simd(0x0c, ...bytes), ...I.set(local));
    const bytes = [...vec(groups), ...prologue, ...this.code.flat(), ...I.end];
    return [...uleb(bytes.length), ...bytes];
  }
}

/** `for (i = 0; i < n; i++) body()` with `i` an i32 local. */
export function forLoop(f: Fn, i: number, n: number, body: () => void): void {
  f.emit(I.i32(0), I.set(i), I.block, I.loop);
  f.emit(I.get(i), I.get(n), I.i32GeU, I.brIf(1));
  body();
  f.emit(I.get(i), I.i32(1), I.i32Add, I.set(i), I.br(0), I.end, I.end);
}

/** Pushes the address `base + 16·i` (bytes) of vector `i`. */
export function vaddr(f: Fn, base: number, i: number): void {
  f.emit(I.get(base), I.get(i), I.i32(4), I.i32Shl, I.i32Add);
}

/** Pushes the f32x4 `[c, c, c, c]` (a local set once per call, see {@linkcode Fn.constant}). */
export function vconst(f: Fn, c: number): void {
  f.emit(I.get(f.constant(c)));
}

/** Pushes the i32x4 with lanes `lanes` (a local set once per call). */
export function vconstI32(f: Fn, lanes: [number, number, number, number]): void {
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
export function vexp(f: Fn, x: number, t: number, k: number, u: number, r2: number): void {
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

/** Pushes the sum of the 4 lanes of the f32x4 in local `a`. */
export function hsum(f: Fn, a: number): void {
  f.emit(I.get(a), I.lane(0), I.get(a), I.lane(1), I.f32Add, I.get(a), I.lane(2), I.f32Add);
  f.emit(I.get(a), I.lane(3), I.f32Add);
}

/** `while (p < end) { body(); }` with `p`, `end` i32 locals (the body must advance `p`). */
export function whileBelow(f: Fn, p: number, end: number, body: () => void): void {
  f.emit(I.block, I.loop, I.get(p), I.get(end), I.i32GeU, I.brIf(1));
  body();
  f.emit(I.br(0), I.end, I.end);
}

/** `p += k` for an i32 local. */
export function bump(f: Fn, p: number, k: number): void {
  f.emit(I.get(p), I.i32(k), I.i32Add, I.set(p));
}

/** A module importing `env.memory` and exporting `fns` under their names. */
export function assemble(fns: Fn[]): Uint8Array<ArrayBuffer> {
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
