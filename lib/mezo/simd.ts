/**
 * MeZO's `a·θ + c·z` loops as a WebAssembly SIMD module (`lib/backend/wasm_asm.ts`), run in place on the tfjs wasm
 * heap: the hash, Box-Muller and the axpy on f32x4, four pairs (eight elements) per iteration for the Gaussian and
 * four elements for the Rademacher z. Every step is the float32 operation of the definition (`noise.ts`, emulated
 * there with `Math.fround`), so the results are bit-identical to `axpzInto` (tests/mezo/noise_test.ts checks it).
 * @module
 */
import { F32, Fn, I, I32, uleb, V128, vconst, vconstI32, whileBelow } from "../backend/wasm_asm.ts";
import { simdLoops } from "../backend/heap.ts";
import { GAUSS } from "./noise.ts";

const simd = (code: number) => [0xfd, ...uleb(code)];
/** SIMD instructions the shared encoder table does not have. */
const S = {
  f32x4Gt: simd(0x44),
  and: simd(0x4e),
  or: simd(0x50),
  bitselect: simd(0x52),
  i32x4Sub: simd(0xb1),
  i32x4ShrS: simd(0xac),
};

const { phi: PHI, c1: C1, c2: C2, sqrt2: SQRT2, ln2: LN2, halfPi: HALF_PI, rsqrt2: R } = GAUSS;
const [I3, I5, I7, I9, I6, I120, I5040, I24, I720, I40320] = GAUSS.inv;

/** Pushes `fmix32(j·φ ⊕ K)` for the i32x4 `j` in local `j` (`K`: the key in every lane; `h`: scratch). */
function vHash(f: Fn, j: number, K: number, h: number): void {
  f.emit(I.get(j));
  vconstI32(f, [PHI, PHI, PHI, PHI]);
  f.emit(I.i32x4Mul, I.get(K), I.v128Xor, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32x4ShrU, I.v128Xor);
  vconstI32(f, [C1, C1, C1, C1]);
  f.emit(I.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(13), I.i32x4ShrU, I.v128Xor);
  vconstI32(f, [C2, C2, C2, C2]);
  f.emit(I.i32x4Mul, I.tee(h));
  f.emit(I.get(h), I.i32(16), I.i32x4ShrU, I.v128Xor);
}

/** `acc = acc·x + c` on f32x4 locals (a separate multiply and add: no fused multiply-add). */
function horner(f: Fn, acc: number, x: number, c: number): void {
  f.emit(I.get(acc), I.get(x), I.mul);
  vconst(f, c);
  f.emit(I.add, I.set(acc));
}

/** `acc = c − x·acc`. */
function hornerNeg(f: Fn, acc: number, x: number, c: number): void {
  vconst(f, c);
  f.emit(I.get(x), I.get(acc), I.mul, I.sub, I.set(acc));
}

/**
 * `mezoAxpzGauss(theta, out, blocks, a, c, key)`: `out = a·θ + c·z` for the first `8·blocks` float32 elements at
 * `theta` (byte offsets; `out` may equal `theta`), z Gaussian under `key`. Block `b` holds pairs `4b..4b+3`: the
 * cosine branch goes to elements `8b..8b+3`, the sine branch to `8b+4..8b+7`.
 */
function mezoAxpzGauss(): Fn {
  const f = new Fn("mezoAxpzGauss", [I32, I32, I32, F32, F32, I32]);
  const [theta, out, blocks, a, c, key] = [...Array(6).keys()];
  const b = f.local(I32), A = f.local(V128), C = f.local(V128), K = f.local(V128), h = f.local(V128);
  const j = f.local(V128), h2 = f.local(V128), m = f.local(V128), ei = f.local(V128), mask = f.local(V128);
  const s = f.local(V128), s2 = f.local(V128), q = f.local(V128), r = f.local(V128), t = f.local(V128);
  const t2 = f.local(V128), st = f.local(V128), ct = f.local(V128), sc = f.local(V128), ss = f.local(V128);
  const zc = f.local(V128), zs = f.local(V128), p = f.local(I32);
  f.emit(I.get(a), I.splat, I.set(A), I.get(c), I.splat, I.set(C), I.get(key), I.i32x4Splat, I.set(K));
  f.emit(I.i32(0), I.set(b));
  whileBelow(f, b, blocks, () => {
    // j = 2p = 8b + [0, 2, 4, 6]: h1 = U(key, 2p) into h2's slot first, then the log
    f.emit(I.get(b), I.i32(3), I.i32Shl, I.i32x4Splat);
    vconstI32(f, [0, 2, 4, 6]);
    f.emit(I.i32x4Add, I.set(j));
    vHash(f, j, K, h);
    // x = (h1 >>> 8) + 1 as float (exact); e − 24 = (bits >>> 23) − 151; m = mantissa | 1.0
    f.emit(I.i32(8), I.i32x4ShrU);
    vconstI32(f, [1, 1, 1, 1]);
    f.emit(I.i32x4Add, I.f32x4ConvertI32x4S, I.tee(m), I.i32(23), I.i32x4ShrU);
    vconstI32(f, [151, 151, 151, 151]);
    f.emit(S.i32x4Sub, I.set(ei), I.get(m));
    vconstI32(f, [0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff]);
    f.emit(S.and);
    vconstI32(f, [0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000]);
    f.emit(S.or, I.tee(m));
    vconst(f, SQRT2);
    f.emit(S.f32x4Gt, I.set(mask));
    // m > √2: m = m/2, e += 1 (mask lanes are −1)
    f.emit(I.get(m));
    vconst(f, 0.5);
    f.emit(I.mul, I.get(m), I.get(mask), S.bitselect, I.set(m));
    f.emit(I.get(ei), I.get(mask), S.i32x4Sub, I.set(ei));
    // s = (m − 1)/(m + 1); ln m = 2s·(1 + s²/3 + s⁴/5 + s⁶/7 + s⁸/9)
    f.emit(I.get(m));
    vconst(f, 1);
    f.emit(I.sub, I.get(m));
    vconst(f, 1);
    f.emit(I.add, I.div, I.tee(s), I.get(s), I.mul, I.set(s2));
    vconst(f, I9);
    f.emit(I.get(s2), I.mul);
    vconst(f, I7);
    f.emit(I.add, I.set(q));
    horner(f, q, s2, I5);
    horner(f, q, s2, I3);
    horner(f, q, s2, 1);
    vconst(f, 2);
    f.emit(I.get(s), I.mul, I.get(q), I.mul, I.get(ei), I.f32x4ConvertI32x4S);
    vconst(f, LN2);
    f.emit(I.mul, I.add); // ln u1
    vconst(f, -2);
    f.emit(I.mul, I.sqrt, I.set(r));
    // h2 = U(key, 2p + 1); quadrant k = h2 >>> 30; t = ((h2 >>> 6 & 0xffffff)·2^-24 − 1/2)·π/2
    f.emit(I.get(j));
    vconstI32(f, [1, 1, 1, 1]);
    f.emit(I.i32x4Add, I.set(j));
    vHash(f, j, K, h);
    f.emit(I.tee(h2), I.i32(6), I.i32x4ShrU);
    vconstI32(f, [0xffffff, 0xffffff, 0xffffff, 0xffffff]);
    f.emit(S.and, I.f32x4ConvertI32x4S);
    vconst(f, 5.960464477539063e-8);
    f.emit(I.mul);
    vconst(f, 0.5);
    f.emit(I.sub);
    vconst(f, HALF_PI);
    f.emit(I.mul, I.tee(t), I.get(t), I.mul, I.set(t2));
    // sin t = t·(1 − t²(1/6 − t²(1/120 − t²/5040))), cos t = 1 − t²(1/2 − t²(1/24 − t²(1/720 − t²/40320)))
    vconst(f, I120);
    f.emit(I.get(t2));
    vconst(f, I5040);
    f.emit(I.mul, I.sub, I.set(st));
    hornerNeg(f, st, t2, I6);
    hornerNeg(f, st, t2, 1);
    f.emit(I.get(t), I.get(st), I.mul, I.set(st));
    vconst(f, I720);
    f.emit(I.get(t2));
    vconst(f, I40320);
    f.emit(I.mul, I.sub, I.set(ct));
    hornerNeg(f, ct, t2, I24);
    hornerNeg(f, ct, t2, 0.5);
    hornerNeg(f, ct, t2, 1);
    // sign bits of cos and sin of (k + 1/2)·π/2: cos < 0 for k = 1, 2; sin < 0 for k = 2, 3
    f.emit(I.get(h2), I.i32(30), I.i32x4ShrU);
    vconstI32(f, [1, 1, 1, 1]);
    f.emit(I.i32x4Add, I.i32(1), I.i32x4ShrU, I.i32(31), I.i32x4Shl, I.set(sc));
    f.emit(I.get(h2), I.i32(31), I.i32x4ShrU, I.i32(31), I.i32x4Shl, I.set(ss));
    // zc = r·(ca·ct − sa·st), zs = r·(sa·ct + ca·st), with ca·x = (R·x) ^ sc and sa·x = (R·x) ^ ss
    vconst(f, R);
    f.emit(I.get(ct), I.mul, I.set(zc)); // R·ct
    vconst(f, R);
    f.emit(I.get(st), I.mul, I.set(zs)); // R·st
    f.emit(I.get(zc), I.get(sc), I.v128Xor, I.get(zs), I.get(ss), I.v128Xor, I.sub, I.get(r), I.mul);
    f.emit(I.get(zc), I.get(ss), I.v128Xor, I.get(zs), I.get(sc), I.v128Xor, I.add, I.get(r), I.mul, I.set(zs));
    f.emit(I.set(zc));
    // out[8b..8b+3] = a·θ + c·zc, out[8b+4..8b+7] = a·θ + c·zs
    f.emit(I.get(b), I.i32(5), I.i32Shl, I.set(p));
    f.emit(I.get(out), I.get(p), I.i32Add);
    f.emit(I.get(theta), I.get(p), I.i32Add, I.load(), I.get(A), I.mul, I.get(C), I.get(zc), I.mul, I.add, I.store());
    f.emit(I.get(out), I.get(p), I.i32Add);
    f.emit(I.get(theta), I.get(p), I.i32Add, I.load(16), I.get(A), I.mul, I.get(C), I.get(zs), I.mul, I.add);
    f.emit(I.store(16));
    f.emit(I.get(b), I.i32(1), I.i32Add, I.set(b));
  });
  return f;
}

/**
 * `mezoAxpzSign(theta, out, vectors, a, c, key)`: `out = a·θ + c·z` for the first `4·vectors` elements, z = ±1 from
 * the sign of `U(key, i)` (so `c·z` is `c` with its sign bit flipped where the hash is negative).
 */
function mezoAxpzSign(): Fn {
  const f = new Fn("mezoAxpzSign", [I32, I32, I32, F32, F32, I32]);
  const [theta, out, vectors, a, c, key] = [...Array(6).keys()];
  const v = f.local(I32), A = f.local(V128), C = f.local(V128), K = f.local(V128), h = f.local(V128);
  const j = f.local(V128), p = f.local(I32);
  f.emit(I.get(a), I.splat, I.set(A), I.get(c), I.splat, I.set(C), I.get(key), I.i32x4Splat, I.set(K));
  f.emit(I.i32(0), I.set(v));
  whileBelow(f, v, vectors, () => {
    f.emit(I.get(v), I.i32(2), I.i32Shl, I.i32x4Splat);
    vconstI32(f, [0, 1, 2, 3]);
    f.emit(I.i32x4Add, I.set(j));
    f.emit(I.get(v), I.i32(4), I.i32Shl, I.set(p));
    f.emit(I.get(out), I.get(p), I.i32Add, I.get(theta), I.get(p), I.i32Add, I.load(), I.get(A), I.mul);
    vHash(f, j, K, h);
    vconstI32(f, [-0x80000000, -0x80000000, -0x80000000, -0x80000000]);
    f.emit(S.and, I.get(C), I.v128Xor, I.add, I.store());
    f.emit(I.get(v), I.i32(1), I.i32Add, I.set(v));
  });
  return f;
}

/** The MeZO loops, bound to one memory. Pointers are byte offsets. */
export interface MezoSimdKernels {
  mezoAxpzGauss(theta: number, out: number, blocks: number, a: number, c: number, key: number): void;
  mezoAxpzSign(theta: number, out: number, vectors: number, a: number, c: number, key: number): void;
}

/** The MeZO loops on a backend's memory, or null (no SIMD, or `backendOptions().simd` off). */
export const mezoSimd = simdLoops<MezoSimdKernels>(() => [mezoAxpzGauss(), mezoAxpzSign()]);

/** The module's functions, for tests that instantiate them on their own memory. */
export function mezoSimdFunctions(): Fn[] {
  return [mezoAxpzGauss(), mezoAxpzSign()];
}
