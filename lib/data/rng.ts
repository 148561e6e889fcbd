/**
 * The project's seeded pseudo-random number generator.
 *
 * `Rng` is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator: 128-bit state, 32-bit output, passes
 * PractRand) seeded through a 64-bit key. `fork(tag)` derives a child stream from the *key* and the tag, never from
 * the current position, so `rng.fork("step", ...)` gives the same stream however many numbers were drawn before.
 * That is what lets checkpoint recompute, WTA-CRS sampling and MeZO perturbations be replayed from a seed.
 * @module
 */

/** An indexable, writable sequence such as an `Array` or a typed array. */
export interface MutableArrayLike<T> {
  /** Number of elements. */
  readonly length: number;
  /** Element access. */
  [index: number]: T;
}

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finalizer: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-16 code units of `s`, seeded with `h`. */
function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h >>> 0);
}

/**
 * A seeded, deterministic random number generator (sfc32).
 *
 * The same seed always yields the same sequence on every platform; streams derived with {@linkcode Rng.fork} are
 * independent of each other and of how far the parent has advanced.
 *
 * @example Usage
 * ```ts
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const a = new Rng(42), b = new Rng(42);
 * assert.equal(a.nextU32(), b.nextU32());
 * const u = a.uniform();
 * assert.ok(u >= 0 && u < 1);
 * assert.equal(a.fork("mezo").nextU32(), new Rng(42).fork("mezo").nextU32());
 * ```
 */
export class Rng {
  #k0 = 0;
  #k1 = 0;
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;
  #spare: number | undefined;

  /**
   * Creates a generator from a seed.
   *
   * @param seed Any safe integer (negative values and values above 2^32 are fine).
   * @throws {RangeError} if `seed` is not a safe integer.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Cannot create Rng: 'seed' must be a safe integer: current value is ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.#reseed(fmix32(lo ^ 0x9e3779b9), fmix32(hi ^ fmix32(lo + 0x7f4a7c15)));
  }

  #reseed(k0: number, k1: number): void {
    this.#k0 = k0 >>> 0;
    this.#k1 = k1 >>> 0;
    this.#a = fmix32(k0 ^ 0x243f6a88);
    this.#b = fmix32(k1 ^ 0x85a308d3);
    this.#c = fmix32((k0 + k1) ^ 0x13198a2e);
    this.#d = 1;
    this.#spare = undefined;
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  /**
   * Returns the next raw 32-bit output.
   *
   * @returns An integer in [0, 2^32).
   */
  nextU32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    this.#c = ((c << 21) | (c >>> 11)) + t | 0;
    return t >>> 0;
  }

  /**
   * Returns a uniform float in [0, 1) with 32 bits of resolution.
   *
   * @returns A number `u` with `0 <= u < 1`.
   */
  uniform(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /**
   * Returns a uniform integer in [0, n), without modulo bias (rejection sampling).
   *
   * @param n The exclusive upper bound, an integer in [1, 2^32].
   * @returns An integer `i` with `0 <= i < n`.
   * @throws {RangeError} if `n` is not an integer in [1, 2^32].
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`Cannot draw integer: 'n' must be an integer in [1, 2^32]: current value is ${n}`);
    }
    // Accept draws below the largest multiple of n that fits in 2^32.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /**
   * Returns a standard normal sample (Box-Muller; the second value of each pair is cached for the next call).
   *
   * @returns A number drawn from N(0, 1).
   */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Fills `out` with standard normal samples (e.g. a MeZO perturbation) and returns it.
   *
   * @param out The array to overwrite.
   * @returns `out`.
   */
  fillNormal<T extends MutableArrayLike<number>>(out: T): T {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /**
   * Shuffles `arr` in place (Fisher-Yates) and returns it.
   *
   * @typeParam T The array type (an `Array` or a typed array).
   * @param arr The array to shuffle.
   * @returns `arr`, permuted.
   */
  shuffle<E, T extends MutableArrayLike<E>>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /**
   * Returns a random permutation of 0..n-1.
   *
   * @param n The length, a non-negative integer.
   * @returns An `Int32Array` holding each of 0..n-1 once.
   * @throws {RangeError} if `n` is not a non-negative integer.
   */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new RangeError(`Cannot create permutation: 'n' must be a non-negative integer: current value is ${n}`);
    }
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * Derives an independent child generator from this generator's key and `tag`.
   *
   * The child depends only on the seed, the chain of fork tags and this tag, not on how many values were drawn.
   * Numbers and strings are distinct tags (`fork(1)` differs from `fork("1")`); chains are ordered
   * (`fork("a").fork("b")` differs from `fork("b").fork("a")`).
   *
   * @param tag A string or finite number naming the stream, e.g. `"dropout"` or a step index.
   * @returns A new generator.
   * @throws {TypeError} if `tag` is not a string or a finite number.
   */
  fork(tag: string | number): Rng {
    let s: string;
    if (typeof tag === "string") s = "s:" + tag;
    else if (typeof tag === "number" && Number.isFinite(tag)) s = "n:" + String(tag);
    else throw new TypeError(`Cannot fork Rng: 'tag' must be a string or a finite number: current value is ${tag}`);
    const h0 = hashString(s, this.#k0 ^ 0x811c9dc5);
    const h1 = hashString(s, this.#k1 ^ 0x050c5d1f);
    const child = new Rng(0);
    child.#reseed(fmix32(h0 ^ Math.imul(this.#k1, 0x9e3779b1)), fmix32(h1 ^ this.#k0 ^ 0x6a09e667));
    return child;
  }

  /**
   * Returns a copy at the same position: both then produce the same sequence.
   *
   * @returns A new generator with identical state.
   */
  clone(): Rng {
    const r = new Rng(0);
    r.#k0 = this.#k0;
    r.#k1 = this.#k1;
    r.#a = this.#a;
    r.#b = this.#b;
    r.#c = this.#c;
    r.#d = this.#d;
    r.#spare = this.#spare;
    return r;
  }

  /**
   * The generator's whole state (key, counter words and the cached normal), for a checkpoint: a generator made with
   * {@linkcode Rng.fromState} from it produces the same sequence as this one from here on.
   *
   * @returns 8 numbers: the two key words, the four sfc32 words, the cached normal (NaN for none) and 1 when cached.
   *
   * @example Usage
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const a = new Rng(7);
   * a.normal();
   * const b = Rng.fromState(a.state());
   * assert.equal(b.normal(), a.normal());
   * assert.equal(b.nextU32(), a.nextU32());
   * ```
   */
  state(): Float64Array {
    const s = this.#spare;
    return Float64Array.of(
      this.#k0,
      this.#k1,
      this.#a >>> 0,
      this.#b >>> 0,
      this.#c >>> 0,
      this.#d >>> 0,
      s ?? NaN,
      s === undefined ? 0 : 1,
    );
  }

  /**
   * A generator at the position {@linkcode Rng.state} recorded.
   *
   * @param state The 8 numbers of `state()`.
   * @returns A new generator.
   * @throws {RangeError} when `state` is not 8 numbers with 32-bit words and a 0/1 flag.
   */
  static fromState(state: ArrayLike<number>): Rng {
    const ok = state !== null && typeof state === "object" && state.length === 8 &&
      Array.from({ length: 6 }, (_, i) => state[i]).every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      (state[7] === 0 || (state[7] === 1 && Number.isFinite(state[6])));
    if (!ok) {
      throw new RangeError(
        `Cannot restore Rng: 'state' must be the 8 numbers of Rng.state(): current value is ${
          state === null || typeof state !== "object" ? String(state) : `[${Array.from(state).join(", ")}]`
        }`,
      );
    }
    const r = new Rng(0);
    r.#k0 = state[0];
    r.#k1 = state[1];
    r.#a = state[2] | 0;
    r.#b = state[3] | 0;
    r.#c = state[4] | 0;
    r.#d = state[5] | 0;
    r.#spare = state[7] === 1 ? state[6] : undefined;
    return r;
  }
}
