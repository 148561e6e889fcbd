/**
 * An address space for large heap blocks, beside the wasm module's own allocator: spans of linear memory taken at
 * the heap's break (through {@linkcode BreakProvider}, the module's `sbrk` protocol), holes kept sorted by address
 * and merged with their neighbours, first-fit placement, and placement at a chosen address (what the heap plan asks
 * for, `heap_plan.ts`). The space only grows; blocks are multiples of 8 bytes at 8-byte aligned addresses.
 * @module
 */

/** Moves the heap's break: what the space takes its memory from. */
export interface BreakProvider {
  /** The current break. */
  brk(): number;
  /** Moves the break up by `bytes` (a multiple of 8) and returns the old break, or -1 when memory cannot grow. */
  sbrk(bytes: number): number;
}

/** One span of the space: `[start, end)`. */
export interface Span {
  start: number;
  end: number;
}

/** Rounds a request up to the space's block size (a multiple of 8, at least 8). */
export function blockSize(bytes: number): number {
  return Math.max(8, Math.ceil(bytes / 8) * 8);
}

/**
 * Large blocks in spans of the heap that the module's allocator never sees.
 *
 * @example Usage
 * ```ts
 * import { HeapSpace } from "./heap_space.ts";
 * import assert from "node:assert/strict";
 *
 * let top = 1024;
 * const space = new HeapSpace({ brk: () => top, sbrk: (n) => (top += n) - n });
 * const a = space.alloc(100), b = space.alloc(50);
 * assert.equal(b, a + 104); // 100 rounded up to 104
 * space.free(a);
 * assert.equal(space.allocAt(a, 104), a); // the freed block, at the address asked for
 * ```
 */
export class HeapSpace {
  /** The spans, by address. */
  readonly spans: Span[] = [];
  #holes: [number, number][] = []; // [start, size], by address, never adjacent
  #live = new Map<number, number>(); // block -> size
  #liveBytes = 0;
  #provider: BreakProvider;
  #minGrowth: number;

  /**
   * @param provider Where the memory comes from.
   * @param minGrowth The least the space grows by when nothing fits (a multiple of 8; 0: exactly what is missing).
   */
  constructor(provider: BreakProvider, minGrowth = 0) {
    this.#provider = provider;
    this.#minGrowth = blockSize(minGrowth);
  }

  /** The heap's break now. */
  get brk(): number {
    return this.#provider.brk();
  }

  /** Bytes of live blocks. */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** Bytes of the spans. */
  get spanBytes(): number {
    return this.spans.reduce((a, s) => a + s.end - s.start, 0);
  }

  /** Bytes of holes. */
  get freeBytes(): number {
    return this.#holes.reduce((a, h) => a + h[1], 0);
  }

  /** The holes, `[start, size]` by address (a copy). */
  holes(): [number, number][] {
    return this.#holes.map((h) => [h[0], h[1]]);
  }

  /** The live blocks, `[address, size]` (a copy). */
  blocks(): [number, number][] {
    return [...this.#live.entries()];
  }

  /** The size of the live block at `address`, or undefined when the space has no block there. */
  sizeOf(address: number): number | undefined {
    return this.#live.get(address);
  }

  /**
   * A block of at least `bytes`: the lowest hole that fits, else memory at the top (the top span grows when it ends
   * at the break, else a new span starts there). 0 when memory cannot grow.
   */
  alloc(bytes: number): number {
    const n = blockSize(bytes);
    for (const [start, size] of this.#holes) {
      if (size >= n) return this.#take(start, n);
    }
    const top = this.#topExtensible();
    if (top !== undefined) {
      const last = this.#holes[this.#holes.length - 1];
      const freeFrom = last && last[0] + last[1] === top.end ? last[0] : top.end;
      if (!this.#grow(top, Math.max(freeFrom + n - top.end, this.#minGrowth))) return 0;
      return this.#take(freeFrom, n);
    }
    const size = Math.max(n, this.#minGrowth);
    const start = this.#provider.sbrk(size);
    if (start < 0) return 0;
    this.spans.push({ start, end: start + size });
    this.#holes.push([start, size]);
    return this.#take(start, n);
  }

  /**
   * The block `[address, address + bytes)` when all of it is free (in a hole, or at or above the break, which is
   * then moved up to the block's end), else 0. `address` must be a multiple of 8.
   */
  allocAt(address: number, bytes: number): number {
    const n = blockSize(bytes);
    if (address % 8 !== 0 || address <= 0) return 0;
    const i = this.#holeAt(address);
    if (i >= 0) {
      const [start, size] = this.#holes[i];
      if (address + n <= start + size) return this.#take(address, n);
    }
    const brk = this.#provider.brk();
    const top = this.#topExtensible();
    // Extending the top span: free from `address` to the span's end (a hole touching it), then new memory.
    if (top !== undefined && address + n > top.end) {
      const last = this.#holes[this.#holes.length - 1];
      const freeFrom = last && last[0] + last[1] === top.end ? last[0] : top.end;
      if (address >= freeFrom && this.#grow(top, address + n - top.end)) return this.#take(address, n);
      return 0;
    }
    // A new span at the break (the module's allocator took the memory above the last span).
    if (address >= brk && top === undefined) {
      const start = this.#provider.sbrk(address + n - brk);
      if (start < 0) return 0;
      const span = { start, end: address + n };
      this.spans.push(span);
      this.#holes.push([start, span.end - start]);
      return this.#take(address, n);
    }
    return 0;
  }

  /** Frees the block at `address`; false when the space has no block there. */
  free(address: number): boolean {
    const n = this.#live.get(address);
    if (n === undefined) return false;
    this.#live.delete(address);
    this.#liveBytes -= n;
    const holes = this.#holes;
    let lo = 0, hi = holes.length;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (holes[m][0] < address) lo = m + 1;
      else hi = m;
    }
    holes.splice(lo, 0, [address, n]);
    const span = this.#spanOf(address);
    const sameSpan = (a: number) => span !== undefined && a >= span.start && a < span.end;
    if (lo + 1 < holes.length && holes[lo][0] + holes[lo][1] === holes[lo + 1][0] && sameSpan(holes[lo + 1][0])) {
      holes[lo][1] += holes[lo + 1][1];
      holes.splice(lo + 1, 1);
    }
    if (lo > 0 && holes[lo - 1][0] + holes[lo - 1][1] === holes[lo][0] && sameSpan(holes[lo - 1][0])) {
      holes[lo - 1][1] += holes[lo][1];
      holes.splice(lo, 1);
    }
    return true;
  }

  /** The last span when it ends at the break (it can grow in place). */
  #topExtensible(): Span | undefined {
    const last = this.spans[this.spans.length - 1];
    return last && last.end === this.#provider.brk() ? last : undefined;
  }

  #grow(span: Span, bytes: number): boolean {
    if (this.#provider.sbrk(bytes) < 0) return false;
    const last = this.#holes[this.#holes.length - 1];
    if (last && last[0] + last[1] === span.end) last[1] += bytes;
    else this.#holes.push([span.end, bytes]);
    span.end += bytes;
    return true;
  }

  /** Index of the hole containing `address`, or -1. */
  #holeAt(address: number): number {
    const holes = this.#holes;
    let lo = 0, hi = holes.length - 1, found = -1;
    while (lo <= hi) {
      const m = (lo + hi) >>> 1;
      if (holes[m][0] <= address) {
        found = m;
        lo = m + 1;
      } else hi = m - 1;
    }
    return found >= 0 && address < holes[found][0] + holes[found][1] ? found : -1;
  }

  #spanOf(address: number): Span | undefined {
    return this.spans.find((s) => address >= s.start && address < s.end);
  }

  /** Takes `[address, address + n)` out of the hole that contains it. */
  #take(address: number, n: number): number {
    const i = this.#holeAt(address);
    const [start, size] = this.#holes[i];
    const parts: [number, number][] = [];
    if (address > start) parts.push([start, address - start]);
    if (address + n < start + size) parts.push([address + n, start + size - address - n]);
    this.#holes.splice(i, 1, ...parts);
    this.#live.set(address, n);
    this.#liveBytes += n;
    return address;
  }
}
