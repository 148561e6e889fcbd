/**
 * Memory as the process pays for it, beside the meter's logical count. The meter counts the bytes of live tfjs
 * buffers; the allocator underneath also holds free holes between them, its own headers, and what native code
 * allocates for itself. A {@linkcode PhysicalMeter} reports that physical figure with a high-water mark that is
 * reset per step: on wasm and blas the backend installs one that reads the wasm heap's exact break
 * (`lib/backend/heap_tracker.ts`); elsewhere {@linkcode physicalMeter} falls back to the process's resident set size
 * (RSS, with the kernel's peak `VmHWM` on Linux), labelled as such.
 * @module
 */

/** What a {@linkcode PhysicalMeter} measures. */
export type PhysicalKind =
  /** The wasm heap's break: bytes of linear memory from address 0 to the top of the heap (exact). */
  | "wasm-heap"
  /** The wasm memory's grown size (`memory.buffer.byteLength`), when the break cannot be read (an upper bound). */
  | "wasm-memory"
  /** The resident set size of the whole process (JS engine, code, native libraries included). */
  | "rss";

/** How the wasm heap is divided, from a walk of its allocator's regions (all in bytes). */
export interface HeapBreakdown {
  /** The break: top of the heap (linear memory in use from address 0). */
  breakBytes: number;
  /** Where the heap starts (static data and stack lie below). */
  heapBase: number;
  /** The memory's grown size (`memory.buffer.byteLength`), at least `breakBytes`. */
  memoryBytes: number;
  /** Bytes of regions in use (payloads, 8-byte headers and rounding). */
  usedBytes: number;
  /** Bytes of free regions (holes): held by the process, usable only by requests that fit. */
  freeBytes: number;
  /** The largest free region. */
  largestFreeBytes: number;
  /** Number of free regions. */
  freeRegions: number;
  /** Bytes JS asked for in its live allocations (tfjs buffers, kernel scratch). */
  jsBytes: number;
  /** The regions of those allocations (what they occupy: payload rounded up plus header). */
  jsRegionBytes: number;
  /** Regions in use that JS did not allocate: the module's own C++ allocations (allocator bookkeeping included). */
  internalBytes: number;
  /** Bytes of the heap arena's spans (0 without the arena): its live blocks and its holes. */
  arenaBytes: number;
  /** Of `freeBytes`, the holes in the heap arena's spans (the rest are emmalloc's free regions). */
  arenaFreeBytes: number;
  /**
   * emmalloc's part of the heap: everything between the heap base and the break outside the arena's spans. With the
   * arena taking every JS request, this is the module's own (C++) allocations at their high-water.
   */
  emmallocBytes: number;
}

/** A physical memory figure with a reset-able high-water mark. */
export interface PhysicalMeter {
  /** What is measured. */
  readonly kind: PhysicalKind;
  /** True when `current` and `peak` are exact (not sampled or bounded). */
  readonly exact: boolean;
  /** Bytes now. */
  readonly current: number;
  /** The highest `current` since the last {@linkcode PhysicalMeter.resetPeak}. */
  readonly peak: number;
  /** Sets `peak` to `current`. */
  resetPeak(): void;
  /** The heap's division into used, free and module-internal bytes, when the meter can walk it. */
  breakdown?(): HeapBreakdown | undefined;
}

const KEY = Symbol.for("memtrain.physicalMeter");

function readHwm(): number | undefined {
  try {
    const m = /VmHWM:\s*(\d+)\s*kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The process's RSS, with the kernel's high-water (`VmHWM`, reset through `/proc/self/clear_refs`) when readable. */
class RssMeter implements PhysicalMeter {
  readonly kind = "rss";
  #sampled = 0;
  #hwm: boolean;
  constructor() {
    this.#hwm = readHwm() !== undefined && this.#clear();
    this.resetPeak();
  }
  get exact(): boolean {
    return this.#hwm;
  }
  get current(): number {
    const rss = Deno.memoryUsage().rss;
    if (rss > this.#sampled) this.#sampled = rss;
    return rss;
  }
  get peak(): number {
    const now = this.current;
    return this.#hwm ? Math.max(readHwm() ?? now, now) : this.#sampled;
  }
  resetPeak(): void {
    if (this.#hwm) this.#hwm = this.#clear();
    this.#sampled = 0;
    this.#sampled = this.current;
  }
  #clear(): boolean {
    try {
      Deno.writeTextFileSync("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS (Linux >= 4.0)
      return true;
    } catch {
      return false; // no write permission or not Linux: the peak is the highest RSS sampled
    }
  }
}

/**
 * The physical meter in force: the one the backend installed with {@linkcode setPhysicalMeter} (the wasm heap on
 * wasm and blas), else the process's RSS (`kind: "rss"`, exact when `/proc/self/clear_refs` can reset the kernel's
 * `VmHWM`, else the highest RSS sampled at reads).
 *
 * @example Usage
 * ```ts ignore
 * const p = physicalMeter();
 * p.resetPeak();
 * trainer.step(batch);
 * console.log(p.kind, p.peak); // "wasm-heap" 398458880
 * ```
 */
export function physicalMeter(): PhysicalMeter {
  const g = globalThis as Record<symbol, PhysicalMeter | undefined>;
  return g[KEY] ??= new RssMeter();
}

/**
 * Installs `m` as the process's physical meter (the backend does, for the heap it knows); `undefined` goes back to
 * the RSS fallback.
 *
 * @example Usage
 * ```ts
 * import { physicalMeter, setPhysicalMeter } from "./physical.ts";
 * setPhysicalMeter(undefined);
 * physicalMeter().kind; // "rss"
 * ```
 */
export function setPhysicalMeter(m: PhysicalMeter | undefined): void {
  (globalThis as Record<symbol, PhysicalMeter | undefined>)[KEY] = m;
}
