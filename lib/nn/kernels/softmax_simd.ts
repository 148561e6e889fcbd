/**
 * The attention softmax SIMD loops (`softmax.ts`'s fused kernels), on rows whose length is a multiple of 4:
 * `scaleMask` (scale and causal mask before the backend's `Softmax`) and `softmaxGrad`.
 * @module
 */
import { F32, Fn, forLoop, hsum, I, I32, V128, vaddr, vconst } from "../../backend/wasm_asm.ts";
import { simdLoops } from "../../backend/heap.ts";
import { MASKED } from "./causal_mask.ts";

/** softmaxGrad(p, dp, ds, rows, s4, scale): ds = scale·p·(dp − Σ dp·p) per row of 4·s4 floats. */
function softmaxGradFn(): Fn {
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
 * scaleMask(x, z, rows, t, s4, scale, causal): z = x·scale for rows of `s = 4·s4` scores, `t` = Tq rows per matrix;
 * where `causal` ≠ 0, the columns after `lastVisibleKey(r mod t, t, s) = r mod t + (s − t)` get MASKED added.
 * Same mask as `lastVisibleKey` (causal_mask.ts, the definition); tests/nn/kernels/causal_mask_test.ts checks it
 * bit-for-bit.
 */
function scaleMaskFn(): Fn {
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
    // causal: columns q > (r mod t) + (s − t) get MASKED (scalar; the masked part is written once per row)
    f.emit(I.get(causal), I.if);
    f.emit(I.get(r), I.get(r), I.get(t), I.i32DivU, I.get(t), I.i32Mul, I.i32Sub, I.i32(1), I.i32Add); // r mod t + 1
    f.emit(I.get(s4), I.i32(2), I.i32Shl, I.i32Add, I.get(t), I.i32Sub, I.set(q)); // + (s − t)
    f.emit(I.block, I.loop, I.get(q), I.get(s4), I.i32(2), I.i32Shl, I.i32GeU, I.brIf(1));
    f.emit(I.get(zr), I.get(q), I.i32(2), I.i32Shl, I.i32Add);
    f.emit(I.get(zr), I.get(q), I.i32(2), I.i32Shl, I.i32Add, I.f32Load(), I.f32(MASKED), I.f32Add, I.f32Store());
    f.emit(I.get(q), I.i32(1), I.i32Add, I.set(q), I.br(0), I.end, I.end);
    f.emit(I.end);
  });
  return f;
}

/** The attention softmax SIMD loops on a backend's memory (byte offsets; rows of `4·s4` floats). */
export const softmaxSimd = simdLoops<{
  softmaxGrad(p: number, dp: number, ds: number, rows: number, s4: number, scale: number): void;
  scaleMask(x: number, z: number, rows: number, t: number, s4: number, scale: number, causal: number): void;
}>(() => [softmaxGradFn(), scaleMaskFn()]);
