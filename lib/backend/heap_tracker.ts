/**
 * The wasm heap as the process sees it: the exact heap break of the tfjs wasm module (wasm and blas backends), with a
 * reset-able high-water mark, every allocation JS makes through the module's `_malloc`/`_free`, and a walk of the
 * allocator's regions that splits the heap into live JS buffers, module-internal allocations and free holes.
 *
 * How the break is read: tfjs-backend-wasm 4.22 is built with emscripten's emmalloc, whose `sbrk` keeps the break in
 * one static word. `wasm_binary.ts` lists the words that the function calling the heap-growth import loads and
 * stores; the tracker keeps the one whose value the heap proves to be the break: walking emmalloc's regions (each
 * carries its size at both ends; a free region's top copy is odd) from the word's initial value (`__heap_base`)
 * lands exactly on the word's current value. Every growth request (`wasm_capture.ts`) is checked against it
 * afterwards. emmalloc never gives memory back (no trim), so the break only grows: its high-water is its value.
 * When no word verifies (another allocator, or the module was instantiated before `initBackend`), the tracker falls
 * back to the memory's grown size, `kind: "wasm-memory"`, not exact.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { HeapBreakdown, PhysicalMeter } from "../memory/physical.ts";
import { type ArenaMode, HeapArena } from "./heap_arena.ts";
import type { BreakProvider, Span } from "./heap_space.ts";
import { findBreakCandidates } from "./wasm_binary.ts";
import { type CapturedWasm, capturedWasm } from "./wasm_capture.ts";
import { checkAllocation } from "./alloc_error.ts";

/** The parts of the emscripten module object the tracker uses. */
export interface WasmModuleLike {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** emmalloc's smallest region (a header, two links and a footer): root and end sentinel regions have this size. */
const MIN_REGION = 16;

/**
 * The room given to emmalloc each time it grew between two growths of the arena: the module allocates for itself
 * (e.g. a map node per registered tensor), and every growth of emmalloc splits the arena's spans. One MiB holds
 * ~20000 such nodes; the module's large transient allocations (XNNPACK's packed weights on plain wasm) claim their
 * own size whatever the room, so it does not grow.
 */
export const EMMALLOC_ROOM = 1 << 20;

/** Live and peak bytes of the allocations JS made through `_malloc`. */
export interface JsAllocations {
  /** Bytes JS asked for in its live allocations. */
  readonly live: number;
  /** The highest `live` since the last `resetPeak` of the tracker. */
  readonly peak: number;
  /** Number of live allocations. */
  readonly count: number;
}

/**
 * One walk of emmalloc's regions from `base` to `end`, jumping over `spans` (the arena's, by address): totals, or
 * undefined when the regions are not consistent.
 */
function walk(u32: Uint32Array, base: number, end: number, spans: readonly Span[] = []): {
  used: number;
  free: number;
  largest: number;
  holes: number;
} | undefined {
  let r = base, used = 0, free = 0, largest = 0, holes = 0, s = 0;
  while (r < end) {
    while (s < spans.length && spans[s].end <= r) s++;
    if (s < spans.length && spans[s].start === r) {
      r = spans[s].end;
      continue;
    }
    if (r % 4 !== 0) return undefined;
    const size = u32[r >>> 2];
    if (size === 0 && r % 8 === 4) {
      // A 4-byte gap between two blocks: this emmalloc asks `sbrk` for a size that is 4 mod 8, `sbrk` rounds it up
      // to 8 and the next block starts 4 bytes past the end it expects, as a new (disjoint) block.
      used += 4;
      r += 4;
      continue;
    }
    if (size < MIN_REGION || size % 4 !== 0 || r + size > end) return undefined;
    const top = u32[(r + size - 4) >>> 2];
    if ((top & ~1) !== size) return undefined;
    if (top & 1) {
      free += size;
      holes++;
      if (size > largest) largest = size;
    } else used += size;
    r += size;
  }
  return r === end ? { used, free, largest, holes } : undefined;
}

/**
 * The physical meter of the wasm heap. Create it with {@linkcode installHeapTracker} (`initBackend` does, and
 * installs it as `physicalMeter()`).
 */
export class WasmHeapTracker implements PhysicalMeter {
  /** Where the break word lives, or -1 when it was not found (the tracker then reports the memory size). */
  readonly breakAddress: number;
  /** Where the heap starts (the break's initial value), or 0 when the break word was not found. */
  readonly heapBase: number;
  #wasm: WasmModuleLike;
  #exact: boolean;
  #peak = 0;
  #u32: Uint32Array | undefined;
  #js = new Map<number, number>(); // ptr -> bytes asked for
  #jsLive = 0;
  #jsPeak = 0;
  #lastRequested = 0;
  #growths = 0;
  #resize: ((requested: number) => boolean) | undefined;
  #arena: HeapArena | undefined;
  #arenaBreak = -1; // the break after the arena's last growth
  #roomGiven = 0;
  #rawMalloc: (bytes: number) => number;
  #rawFree: (ptr: number) => void;

  constructor(wasm: WasmModuleLike, captured: CapturedWasm | undefined) {
    this.#wasm = wasm;
    let address = -1, base = 0;
    if (captured) {
      for (const c of findBreakCandidates(captured.bytes).candidates) {
        const value = this.#word(c.address);
        if (c.initial > 0 && value >= c.initial && walk(this.#heap32(), c.initial, value)) {
          address = c.address;
          base = c.initial;
          break;
        }
      }
      this.#resize = captured.resize;
      this.#growths = captured.resizes.filter((r) => r.granted).length;
      captured.onResize = (r) => {
        if (!r.granted) return;
        this.#growths++;
        this.#lastRequested = r.requested;
      };
    }
    this.breakAddress = address;
    this.heapBase = base;
    this.#exact = address >= 0;
    // emscripten's exports replace themselves on first call (`Module._malloc = Module.asm.malloc`): accessors keep
    // the wrappers in place and route such an assignment to the function they call.
    let malloc = wasm._malloc, free = wasm._free;
    this.#rawMalloc = (bytes) => malloc(bytes);
    this.#rawFree = (ptr) => free(ptr);
    const trackedMalloc = (bytes: number): number => {
      // Throws AllocationError on failure: tfjs would write the tensor at address 0 (alloc_error.ts).
      const ptr = checkAllocation((b) => this.#arena?.malloc(b) || malloc(b), bytes, this.memoryBytes);
      if (ptr) {
        this.#js.set(ptr, bytes);
        this.#jsLive += bytes;
        if (this.#jsLive > this.#jsPeak) this.#jsPeak = this.#jsLive;
      }
      this.#observe();
      return ptr;
    };
    const trackedFree = (ptr: number): void => {
      const bytes = this.#js.get(ptr);
      if (bytes !== undefined) {
        this.#js.delete(ptr);
        this.#jsLive -= bytes;
      }
      if (!this.#arena?.free(ptr)) free(ptr);
    };
    Object.defineProperty(wasm, "_malloc", {
      configurable: true,
      get: () => trackedMalloc,
      set: (f: (bytes: number) => number) => void (malloc = f),
    });
    Object.defineProperty(wasm, "_free", {
      configurable: true,
      get: () => trackedFree,
      set: (f: (ptr: number) => void) => void (free = f),
    });
    this.#peak = this.current;
  }

  /** `"wasm-heap"` when the break is read exactly, else `"wasm-memory"` (the grown memory size, an upper bound). */
  get kind(): "wasm-heap" | "wasm-memory" {
    return this.#exact ? "wasm-heap" : "wasm-memory";
  }

  /** True while the break is read exactly. */
  get exact(): boolean {
    return this.#exact;
  }

  /** The break (bytes of linear memory in use from address 0 to the top of the heap). */
  get current(): number {
    return this.#exact ? this.#word(this.breakAddress) : this.memoryBytes;
  }

  /** The highest break since the last {@linkcode WasmHeapTracker.resetPeak}. */
  get peak(): number {
    this.#observe();
    return this.#peak;
  }

  /** The memory's grown size (`memory.buffer.byteLength`): emscripten grows it past the break by up to 20%. */
  get memoryBytes(): number {
    return this.#wasm.HEAPU8.buffer.byteLength;
  }

  /** Bytes of room given to emmalloc so far (see {@linkcode EMMALLOC_ROOM}). */
  get emmallocRoom(): number {
    return this.#roomGiven;
  }

  /** How many times the memory grew since the module started. */
  get growths(): number {
    return this.#growths;
  }

  /** The allocations JS made through `_malloc` (tfjs buffers and kernel scratch). */
  get allocations(): JsAllocations {
    return { live: this.#jsLive, peak: this.#jsPeak, count: this.#js.size };
  }

  /** The arena that takes large requests, once {@linkcode WasmHeapTracker.setHeapMode} created it. */
  get arena(): HeapArena | undefined {
    return this.#arena;
  }

  /**
   * Where new large requests go: `"plan"` or `"first-fit"` in the arena (`heap_arena.ts`, created on first use; it
   * needs the exact break, so without it the mode stays `"stock"`), or `"stock"`: emmalloc. Blocks keep the allocator
   * that gave them. Returns the mode in force.
   */
  setHeapMode(mode: ArenaMode | "stock"): ArenaMode | "stock" {
    if (mode === "stock" || mode === "off") {
      if (this.#arena) this.#arena.mode = "off";
      return "stock";
    }
    if (!this.#exact) return "stock";
    this.#arena ??= new HeapArena(this.#breakProvider(), mode);
    this.#arena.mode = mode;
    return mode;
  }

  /** Sets the break's and the JS allocations' high-water marks to their current values. */
  resetPeak(): void {
    this.#peak = this.current;
    this.#jsPeak = this.#jsLive;
  }

  /**
   * Walks the heap: used and free region bytes, the largest hole, the JS allocations' regions and the rest of the used
   * bytes (module-internal). Undefined when the break is not read exactly or the walk finds the regions
   * inconsistent. Costs one pass over the regions (thousands, ~1 ms).
   */
  breakdown(): HeapBreakdown | undefined {
    if (!this.#exact) return undefined;
    const u32 = this.#heap32(), brk = this.current, arena = this.#arena;
    const w = walk(u32, this.heapBase, brk, arena?.spans);
    if (!w) return undefined;
    let jsRegionBytes = 0;
    for (const ptr of this.#js.keys()) {
      if (!arena?.owns(ptr)) jsRegionBytes += u32[(ptr - 4) >>> 2];
    }
    let largest = w.largest, holes = w.holes;
    for (const [, size] of arena?.holes() ?? []) {
      largest = Math.max(largest, size);
      holes++;
    }
    const arenaLive = arena?.liveBytes ?? 0, arenaFree = arena?.freeBytes ?? 0;
    return {
      breakBytes: brk,
      heapBase: this.heapBase,
      memoryBytes: this.memoryBytes,
      usedBytes: w.used + arenaLive,
      freeBytes: w.free + arenaFree,
      largestFreeBytes: largest,
      freeRegions: holes,
      jsBytes: this.#jsLive,
      jsRegionBytes: jsRegionBytes + arenaLive,
      internalBytes: w.used - jsRegionBytes,
      arenaBytes: arenaLive + arenaFree,
      arenaFreeBytes: arenaFree,
      emmallocBytes: brk - this.heapBase - arenaLive - arenaFree,
    };
  }

  /** The module's `sbrk`, done from JS on the break word (for the arena): grows the memory first when needed. */
  #breakProvider(): BreakProvider {
    const address = this.breakAddress;
    return {
      brk: () => this.current,
      sbrk: (bytes: number): number => {
        if (!this.#exact) return -1; // the word no longer follows the break: never write it
        const grown = this.#arenaBreak < 0 ? 0 : this.#word(address) - this.#arenaBreak;
        if (this.#arenaBreak < 0 || (grown > 0 && grown < EMMALLOC_ROOM)) {
          // emmalloc grew a little since the arena last did (or never had room): top its room up to EMMALLOC_ROOM,
          // below the new span. A large growth (a transient C++ buffer) leaves room enough once it is freed.
          const room = EMMALLOC_ROOM - grown, p = this.#rawMalloc(room);
          if (p) {
            this.#rawFree(p);
            this.#roomGiven += room;
          }
        }
        const old = this.#word(address), next = old + bytes;
        if (next > this.memoryBytes && !this.#resize?.(next)) return -1;
        this.#heap32()[address >>> 2] = next;
        this.#arenaBreak = next;
        this.#observe();
        return old;
      },
    };
  }

  #observe(): void {
    const now = this.current;
    if (this.#exact && now < this.#lastRequested) this.#exact = false; // a growth the word did not follow
    if (now > this.#peak) this.#peak = now;
  }

  #heap32(): Uint32Array {
    const buf = this.#wasm.HEAPU8.buffer;
    if (!this.#u32 || this.#u32.buffer !== buf) this.#u32 = new Uint32Array(buf);
    return this.#u32;
  }

  #word(address: number): number {
    return this.#heap32()[address >>> 2];
  }
}

const KEY = Symbol.for("memtrain.heapTracker");

/**
 * Installs the heap tracker on the active wasm backend's module (once per module) and returns it. `initBackend`
 * calls it for wasm and blas. Undefined when the active backend is not wasm.
 *
 * @example Usage
 * ```ts ignore
 * await initBackend({ backend: "wasm" });
 * const heap = installHeapTracker()!;
 * heap.resetPeak();
 * const t = tf.zeros([1 << 20]);
 * heap.peak - heap.current; // 0: the break only grows
 * heap.breakdown()?.freeBytes; // bytes of holes
 * ```
 */
export function installHeapTracker(): WasmHeapTracker | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const wasm = (tf.backend() as unknown as { wasm?: WasmModuleLike & { [KEY]?: WasmHeapTracker } }).wasm;
  if (!wasm || typeof wasm._malloc !== "function") return undefined;
  return wasm[KEY] ??= new WasmHeapTracker(wasm, capturedWasm());
}

/** The heap tracker installed on the active wasm backend, if any. */
export function heapTracker(): WasmHeapTracker | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  return (tf.backend() as unknown as { wasm?: { [KEY]?: WasmHeapTracker } }).wasm?.[KEY];
}

/**
 * Runs one training step as a step of the heap arena's plan (`heap_arena.ts`): blocks allocated inside `fn` are
 * recorded and, from the second step on, placed by the plan. The `Trainer` runs every step through it; a hand-written
 * loop can too. Just `fn()` unless the active backend is wasm or blas with the arena in use.
 *
 * @example Usage
 * ```ts ignore
 * for (const batch of batches) heapStep(() => step(batch)); // from the second step on, its blocks follow the plan
 * ```
 */
export function heapStep<T>(fn: () => T): T {
  const arena = heapTracker()?.arena;
  arena?.beginStep();
  try {
    return fn();
  } finally {
    arena?.endStep();
  }
}
