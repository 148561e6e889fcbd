import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { assertAllClose } from "../_util/assert_close.ts";

const N = 100_000;

function draws(rng: Rng, n: number, f: (r: Rng) => number): number[] {
  return Array.from({ length: n }, () => f(rng));
}

function moments(xs: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    s2 += xs[i] * xs[i];
  }
  const mean = s / xs.length;
  return { mean, variance: s2 / xs.length - mean * mean };
}

Deno.test("Rng.nextU32() matches the pinned golden values (changing them breaks replay of saved seeds)", () => {
  const r = new Rng(0);
  assert.deepEqual(draws(r, 3, (x) => x.nextU32()), [672452406, 2858213728, 2003597509]);
  assert.equal(new Rng(1).fork("a").nextU32(), 1524826303);
});

Deno.test("Rng() is deterministic for a seed and differs across seeds", () => {
  const seq = (seed: number) => draws(new Rng(seed), 50, (r) => r.nextU32());
  assert.deepEqual(seq(7), seq(7));
  const seeds = [0, 1, 2, -1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER];
  const firsts = new Set(seeds.map((s) => seq(s).join(",")));
  assert.equal(firsts.size, seeds.length);
});

Deno.test("Rng.nextU32() returns unsigned 32-bit integers using the high bits too", () => {
  const xs = draws(new Rng(3), 10_000, (r) => r.nextU32());
  assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
  assert.ok(xs.some((x) => x >= 2 ** 31));
});

Deno.test("Rng.uniform() is in [0, 1) with mean 1/2 and variance 1/12", () => {
  const xs = draws(new Rng(11), N, (r) => r.uniform());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const { mean, variance } = moments(xs);
  // Standard errors: 0.0009 (mean), 0.0003 (variance); tolerances are > 5 sigma.
  assertAllClose(mean, 0.5, { atol: 0.005, rtol: 0 });
  assertAllClose(variance, 1 / 12, { atol: 0.002, rtol: 0 });
});

Deno.test("Rng.normal() has mean 0, variance 1 and the 68% one-sigma mass", () => {
  const xs = draws(new Rng(12), N, (r) => r.normal());
  assert.ok(xs.every(Number.isFinite));
  const { mean, variance } = moments(xs);
  // Standard errors: 0.0032 (mean), 0.0045 (variance), 0.0015 (mass).
  assertAllClose(mean, 0, { atol: 0.02, rtol: 0 });
  assertAllClose(variance, 1, { atol: 0.03, rtol: 0 });
  const within = xs.filter((x) => Math.abs(x) < 1).length / N;
  assertAllClose(within, 0.6827, { atol: 0.01, rtol: 0 });
});

Deno.test("Rng.fillNormal() fills in place, matching repeated normal() calls", () => {
  const out = new Float32Array(9);
  assert.equal(new Rng(5).fillNormal(out), out);
  assertAllClose(out, Float32Array.from(draws(new Rng(5), 9, (r) => r.normal())));
});

Deno.test("Rng.int() stays in [0, n) and is uniform (chi-square)", () => {
  const r = new Rng(13);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < N; i++) counts[r.int(10)]++;
  const expected = N / 10;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 30, `chi-square ${chi2} (9 dof) too large: ${counts}`);
  assert.equal(r.int(1), 0);
  const big = draws(r, 1000, (x) => x.int(2 ** 32));
  assert.ok(big.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
  const odd = draws(r, 1000, (x) => x.int(3 * 2 ** 30));
  assert.ok(odd.every((x) => x >= 0 && x < 3 * 2 ** 30));
});

Deno.test("Rng.int() has no modulo bias when n does not divide 2^32", () => {
  // n = 3·2^30: plain `u32 % n` would put the first third [0, 2^30) at probability 1/2 instead of 1/3.
  const r = new Rng(21), n = 3 * 2 ** 30, count = 6000;
  const low = draws(r, count, (x) => x.int(n)).filter((v) => v < 2 ** 30).length / count;
  const se = Math.sqrt((1 / 3) * (2 / 3) / count); // ~0.006
  assert.ok(Math.abs(low - 1 / 3) <= 4.5 * se, `fraction in the first third ${low.toFixed(4)}, want 1/3 ± ${4.5 * se}`);
});

Deno.test("Rng.int() rejects bounds outside [1, 2^32]", () => {
  const r = new Rng(0);
  for (const n of [0, -1, 1.5, NaN, Infinity, 2 ** 32 + 1]) {
    assert.throws(() => r.int(n), RangeError, `int(${n})`);
  }
  assert.throws(() => r.int(0), /'n' must be an integer in \[1, 2\^32\]: current value is 0/);
});

Deno.test("Rng() rejects seeds that are not safe integers", () => {
  for (const s of [0.5, NaN, Infinity, 2 ** 60]) assert.throws(() => new Rng(s), RangeError);
  assert.throws(() => new Rng(0.5), /current value is 0.5/);
});

Deno.test("Rng.shuffle() permutes arrays and typed arrays in place, deterministically", () => {
  const a = Array.from({ length: 50 }, (_, i) => i);
  const b = Int32Array.from(a);
  assert.equal(new Rng(9).shuffle(a), a);
  new Rng(9).shuffle(b);
  assert.deepEqual(Array.from(b), a);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(a, Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(new Rng(1).shuffle([]), []);
  assert.deepEqual(new Rng(1).shuffle(["x"]), ["x"]);
});

Deno.test("Rng.shuffle() gives each permutation of three items equal probability", () => {
  const r = new Rng(21);
  const counts = new Map<string, number>();
  const trials = 60_000;
  for (let i = 0; i < trials; i++) {
    const key = r.shuffle([0, 1, 2]).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const c of counts.values()) assertAllClose(c / trials, 1 / 6, { atol: 0.01, rtol: 0 });
});

Deno.test("Rng.permutation() returns every index once", () => {
  const p = new Rng(4).permutation(1000);
  assert.ok(p instanceof Int32Array);
  assert.deepEqual(Array.from(p).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(new Rng(4).permutation(0).length, 0);
  assert.throws(() => new Rng(4).permutation(-1), RangeError);
});

Deno.test("Rng.fork() depends on seed and tag only, not on the parent's position", () => {
  const parent = new Rng(100);
  const before = parent.fork("mezo").nextU32();
  draws(parent, 17, (r) => r.normal());
  assert.equal(parent.fork("mezo").nextU32(), before);
  assert.equal(new Rng(100).fork("mezo").nextU32(), before);
  assert.notEqual(new Rng(101).fork("mezo").nextU32(), before);
});

Deno.test("Rng.fork() does not advance the parent", () => {
  const a = new Rng(8), b = new Rng(8);
  a.fork("x");
  a.fork(3);
  assert.equal(a.nextU32(), b.nextU32());
});

Deno.test("Rng.fork() streams differ by tag, tag type and chain order", () => {
  const r = new Rng(5);
  const first = (x: Rng) => draws(x, 4, (y) => y.nextU32()).join(",");
  const streams = [
    first(r),
    first(r.fork("a")),
    first(r.fork("b")),
    first(r.fork(1)),
    first(r.fork("1")),
    first(r.fork(2)),
    first(r.fork("a").fork("b")),
    first(r.fork("b").fork("a")),
    first(r.fork("")),
  ];
  assert.equal(new Set(streams).size, streams.length);
  assert.equal(first(r.fork("a").fork("b")), first(new Rng(5).fork("a").fork("b")));
});

Deno.test("Rng.fork() streams for consecutive steps are uncorrelated", () => {
  const r = new Rng(77);
  const a = draws(r.fork(0), N, (x) => x.normal());
  const b = draws(r.fork(1), N, (x) => x.normal());
  let dot = 0;
  for (let i = 0; i < N; i++) dot += a[i] * b[i];
  assertAllClose(dot / N, 0, { atol: 0.02, rtol: 0 }); // standard error 0.0032
});

Deno.test("Rng.fork() rejects tags that are not strings or finite numbers", () => {
  const r = new Rng(0);
  assert.throws(() => r.fork(NaN), TypeError);
  assert.throws(() => r.fork({} as unknown as string), /'tag' must be a string or a finite number/);
});

Deno.test("Rng.clone() continues the same sequence, including a cached normal", () => {
  const r = new Rng(6);
  r.normal(); // leaves a cached second value
  const c = r.clone();
  assert.deepEqual(draws(c, 5, (x) => x.normal()), draws(r, 5, (x) => x.normal()));
  assert.equal(c.fork("t").nextU32(), r.fork("t").nextU32());
});

Deno.test("Rng() streams from adjacent seeds are uncorrelated", () => {
  const a = draws(new Rng(1000), N, (x) => x.uniform() - 0.5);
  const b = draws(new Rng(1001), N, (x) => x.uniform() - 0.5);
  let dot = 0, lag = 0;
  for (let i = 0; i < N; i++) dot += a[i] * b[i];
  for (let i = 1; i < N; i++) lag += a[i] * a[i - 1];
  // Correlations scaled by the variance 1/12; standard error ~0.0032.
  assertAllClose((12 * dot) / N, 0, { atol: 0.02, rtol: 0 });
  assertAllClose((12 * lag) / N, 0, { atol: 0.02, rtol: 0 });
});
