/**
 * The LayerNorm SIMD loops (`layernorm.ts`'s fused kernels), on f32x4 rows whose length is a multiple of 4.
 * @module
 */
import { F32, Fn, forLoop, hsum, I, I32, V128, vaddr, vconst } from "../../backend/wasm_asm.ts";
import { simdLoops } from "../../backend/heap.ts";

/**
 * layerNorm(x, g, b, y, mean, rstd, rows, d4, eps): per row of 4·d4 floats, mean and rstd = 1/√(var + eps) (stored
 * as floats), y = (x − mean)·rstd·g + b.
 */
function layerNormFn(): Fn {
  const f = new Fn("layerNorm", [I32, I32, I32, I32, I32, I32, I32, I32, F32]);
  const [x, g, b, y, mean, rstd, rows, d4, eps] = [...Array(9).keys()];
  const r = f.local(I32), j = f.local(I32), row = f.local(I32), yrow = f.local(I32);
  const acc = f.local(V128), c = f.local(V128), mu = f.local(F32), rs = f.local(F32), MU = f.local(V128);
  const RS = f.local(V128), dn = f.local(F32);
  f.emit(I.get(d4), I.i32(4), I.i32Mul, I.f32ConvertI32U, I.set(dn));
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
function layerNormGradFn(): Fn {
  const f = new Fn("layerNormGrad", [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [dy, x, mean, rstd, g, dx, dg, db, rows, d4] = [...Array(10).keys()];
  const r = f.local(I32), j = f.local(I32), off = f.local(I32), xr = f.local(I32), dyr = f.local(I32);
  const dxr = f.local(I32), MU = f.local(V128), RS = f.local(V128), xh = f.local(V128), dyv = f.local(V128);
  const dxh = f.local(V128), a1 = f.local(V128), a2 = f.local(V128), M1 = f.local(V128), M2 = f.local(V128);
  const dn = f.local(F32);
  f.emit(I.get(d4), I.i32(4), I.i32Mul, I.f32ConvertI32U, I.set(dn));
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

/** The LayerNorm SIMD loops on a backend's memory (byte offsets; rows of `4·d4` floats). */
export const layerNormSimd = simdLoops<{
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
}>(() => [layerNormFn(), layerNormGradFn()]);
