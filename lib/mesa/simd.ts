/**
 * Mesa's quantizer loops (the fused kernels of `kernels.ts`) as a WebAssembly SIMD module (`lib/backend/wasm_asm.ts`):
 * f32x4 min/max and dequantize; quantize hashes four element indices at a time into noise and does the arithmetic,
 * clamp and byte narrowing on f32x4. Every step is the float32 operation of the op chain in `quantize.ts`, so the codes
 * are bit-identical to it. The noise is `uniformAt` of `noise_hash.ts` (the definition), computed with its constants.
 * @module
 */
import { bump, F32, Fn, forLoop, I, I32, V128, vconst, vconstI32, whileBelow } from "../backend/wasm_asm.ts";
import { simdLoops } from "../backend/heap.ts";
import { LEVELS, RANGE_EPS } from "./levels.ts";
import { NOISE_HASH } from "./noise_hash.ts";

/** The largest code, `LEVELS − 1`. */
const TOP = LEVELS - 1;

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
    for (const [acc, out, red] of [[lo, mn, I.f32Min], [hi, mx, I.f32Max]] as const) {
      f.emit(I.get(acc), I.lane(0), I.get(acc), I.lane(1), red, I.set(s));
      f.emit(I.get(acc), I.lane(2), I.get(acc), I.lane(3), red, I.set(t));
      f.emit(I.get(out), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.get(s), I.get(t), red, I.f32Store());
    }
  });
  return f;
}

const { phi: PHI, c1: C1, c2: C2, unit: UNIT } = NOISE_HASH;

/**
 * Pushes the f32x4 noise `uniformAt(key, i)` for the four element indices `idx..idx+3`, where `idx` (i32) is on the
 * stack and `K` holds the key in every lane; `h` is a v128 scratch local. Same bits as `uniformAt` (noise_hash.ts,
 * the definition): tests/mesa/noise_hash_test.ts checks them bit-for-bit.
 */
function vNoise(f: Fn, K: number, h: number): void {
  f.emit(I.i32x4Splat);
  vconstI32(f, [0, 1, 2, 3]);
  f.emit(I.i32x4Add);
  vconstI32(f, [PHI, PHI, PHI, PHI]);
  f.emit(I.i32x4Mul, I.get(K), I.v128Xor, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32x4ShrU, I.v128Xor);
  vconstI32(f, [C1, C1, C1, C1]);
  f.emit(I.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(13), I.i32x4ShrU, I.v128Xor);
  vconstI32(f, [C2, C2, C2, C2]);
  f.emit(I.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32x4ShrU, I.v128Xor, I.i32(8), I.i32x4ShrU, I.f32x4ConvertI32x4S);
  vconst(f, UNIT);
  f.emit(I.mul);
}

/**
 * Pushes the f32 noise `uniformAt(key, idx)` for the index `idx` (i32) on the stack; `h` is an i32 scratch local. Same
 * bits as `uniformAt` (noise_hash.ts, the definition): tests/mesa/noise_hash_test.ts checks them bit-for-bit.
 */
function sNoise(f: Fn, key: number, h: number): void {
  f.emit(I.i32(PHI), I.i32Mul, I.get(key), I.i32Xor, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32ShrU, I.i32Xor, I.i32(C1), I.i32Mul, I.tee(h));
  f.emit(I.get(h), I.i32(13), I.i32ShrU, I.i32Xor, I.i32(C2), I.i32Mul, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32ShrU, I.i32Xor, I.i32(8), I.i32ShrU, I.f32ConvertI32S);
  f.emit(I.f32(UNIT), I.f32Mul);
}

/**
 * `mesaQuantize(x, c, pre, groups, rest, alpha, beta, state, nearest, start)`: byte codes
 * `trunc(clamp((x − β_g)·(255/(α_g + eps)) + u, 0, 255))` of the float32 `[pre, G, rest]` tensor at `x`, written to
 * `c` (one byte each), every step a float32 operation; `u` is ½ when `nearest` ≠ 0, else `uniformAt(key, start + i)`
 * of `lib/mesa/noise.ts` for the element's flat index `i` (a counter-based hash, four lanes at a time; `start` is the
 * index of `x`'s first element in the whole tensor when this call quantizes a piece of it, `split.ts`). The noise,
 * arithmetic, clamp and narrowing to bytes run on f32x4, then a scalar tail.
 */
function mesaQuantize(): Fn {
  const eps = RANGE_EPS;
  const f = new Fn("mesaQuantize", [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [x, c, pre, groups, rest, alpha, beta, key, nearest, start] = [...Array(10).keys()];
  const p = f.local(I32), g = f.local(I32), end = f.local(I32), scale = f.local(F32), b = f.local(F32);
  const r = f.local(F32), end4 = f.local(I32), S = f.local(V128), B = f.local(V128), u = f.local(V128);
  const x0 = f.local(I32), K = f.local(V128), h = f.local(V128), hs = f.local(I32);
  const xk = x; // advanced by 4 bytes per element, as c by 1
  f.emit(I.get(x), I.set(x0), I.get(key), I.i32x4Splat, I.set(K));
  const index = () => f.emit(I.get(xk), I.get(x0), I.i32Sub, I.i32(2), I.i32ShrU, I.get(start), I.i32Add); // flat index
  forLoop(f, p, pre, () => {
    forLoop(f, g, groups, () => {
      f.emit(I.f32(TOP), I.get(alpha), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(eps), I.f32Add);
      f.emit(I.f32Div, I.tee(scale), I.splat, I.set(S));
      f.emit(I.get(beta), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.tee(b), I.splat, I.set(B));
      f.emit(I.get(c), I.get(rest), I.i32Add, I.set(end));
      f.emit(I.get(c), I.get(rest), I.i32(-4), I.i32And, I.i32Add, I.set(end4));
      whileBelow(f, c, end4, () => {
        f.emit(I.get(c)); // store address
        f.emit(I.get(xk), I.load(), I.get(B), I.sub, I.get(S), I.mul);
        f.emit(I.get(nearest), I.ifV128);
        vconst(f, 0.5);
        f.emit(I.else);
        index();
        vNoise(f, K, h);
        f.emit(I.end, I.add);
        // clamp to [0, 255] with NaN to 0: pmin(r, 255) = 255 < r ? 255 : r, pmax(0, t) = 0 < t ? t : 0
        vconst(f, TOP);
        f.emit(I.pmin, I.set(u));
        vconst(f, 0);
        f.emit(I.get(u), I.pmax, I.i32x4TruncSatF32x4S, I.tee(u), I.get(u), I.i16x8NarrowI32x4U, I.tee(u));
        f.emit(I.get(u), I.i8x16NarrowI16x8U, I.store32Lane0);
        bump(f, c, 4);
        bump(f, xk, 16);
      });
      whileBelow(f, c, end, () => {
        f.emit(I.get(c)); // store address
        f.emit(I.get(xk), I.f32Load(), I.get(b), I.f32Sub, I.get(scale), I.f32Mul);
        f.emit(I.get(nearest), I.ifF32, I.f32(0.5), I.else);
        index();
        sNoise(f, key, hs);
        f.emit(I.end);
        // r > 255 ? 255 : r > 0 ? r : 0 (NaN gives 0), then truncation (signed: the value is in [0, 255])
        f.emit(I.f32Add, I.set(r), I.f32(TOP), I.get(r), I.get(r), I.f32(TOP), I.f32Gt, I.select);
        f.emit(I.set(r), I.get(r), I.f32(0), I.get(r), I.f32(0), I.f32Gt, I.select, I.i32TruncSatF32S, I.i32Store8);
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
  const eps = RANGE_EPS;
  const f = new Fn("mesaDequantize", [I32, I32, I32, I32, I32, I32, I32]);
  const [c, y, pre, groups, rest4, alpha, beta] = [...Array(7).keys()];
  const p = f.local(I32), g = f.local(I32), end = f.local(I32), step = f.local(V128), b = f.local(V128);
  forLoop(f, p, pre, () => {
    forLoop(f, g, groups, () => {
      f.emit(I.get(alpha), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(eps), I.f32Add, I.f32(TOP));
      f.emit(I.f32Div, I.splat, I.set(step));
      f.emit(I.get(beta), I.get(g), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.splat, I.set(b));
      f.emit(I.get(c), I.get(rest4), I.i32(2), I.i32Shl, I.i32Add, I.set(end));
      whileBelow(f, c, end, () => {
        f.emit(I.get(y), I.get(c), I.load32Zero, I.i16x8ExtendLowI8x16U, I.i32x4ExtendLowI16x8U);
        f.emit(I.f32x4ConvertI32x4S, I.get(step), I.mul, I.get(b), I.add, I.store());
        bump(f, c, 4);
        bump(f, y, 16);
      });
    });
  });
  return f;
}

/**
 * `mesaNoise(out, start, n, key)`: writes `uniformAt(key, start + i)` for `i < n` as float32 to `out`, with
 * {@linkcode vNoise} for whole vectors and {@linkcode sNoise} for the tail: the quantize kernel's noise on its own, so
 * tests can compare it bit-for-bit with `uniformAt` (same bits as `uniformAt`, noise_hash.ts, the definition).
 */
function mesaNoise(): Fn {
  const f = new Fn("mesaNoise", [I32, I32, I32, I32]);
  const [out, start, n, key] = [...Array(4).keys()];
  const i = f.local(I32), end4 = f.local(I32), K = f.local(V128), h = f.local(V128), hs = f.local(I32);
  f.emit(I.get(key), I.i32x4Splat, I.set(K), I.get(n), I.i32(-4), I.i32And, I.set(end4));
  f.emit(I.i32(0), I.set(i));
  whileBelow(f, i, end4, () => {
    f.emit(I.get(out), I.get(i), I.i32(2), I.i32Shl, I.i32Add); // store address
    f.emit(I.get(start), I.get(i), I.i32Add);
    vNoise(f, K, h);
    f.emit(I.store());
    bump(f, i, 4);
  });
  whileBelow(f, i, n, () => {
    f.emit(I.get(out), I.get(i), I.i32(2), I.i32Shl, I.i32Add); // store address
    f.emit(I.get(start), I.get(i), I.i32Add);
    sNoise(f, key, hs);
    f.emit(I.f32Store());
    bump(f, i, 1);
  });
  return f;
}

/** The Mesa loops, bound to one memory. Pointers are byte offsets. */
export interface MesaSimdKernels {
  mesaNoise(out: number, start: number, n: number, key: number): void;
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
    start: number,
  ): void;
  mesaDequantize(c: number, y: number, pre: number, groups: number, rest4: number, alpha: number, beta: number): void;
}

/** The Mesa loops on a backend's memory, or null (no SIMD, or `backendOptions().simd` off: the JS loops run). */
export const mesaSimd = simdLoops<MesaSimdKernels>(() => [mesaMinMax(), mesaQuantize(), mesaDequantize(), mesaNoise()]);
