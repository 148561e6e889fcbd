/**
 * The heap arena: where large tfjs buffers go on wasm and blas instead of the module's allocator (emmalloc), so
 * that the heap a training run grows to stays close to what the meter counts.
 *
 * emmalloc serves large and small requests from one heap, splits holes from their low end and never gives memory
 * back, so across steps the small long-lived blocks pin the big holes apart: GPT-small L8 grew to 1.22x the meter's
 * peak after 8 steps, `checkpoint-every2` to 1.34x (`MEMTRAIN_HEAP=stock deno task experiment memory`, README; the
 * plan: 1.07x and 1.10x). The arena
 * takes every request from JS into its own spans of the heap (`heap_space.ts`), taken at the break with the module's
 * own `sbrk` protocol (emmalloc expects other users of `sbrk` and starts a new block above them): requests below
 * {@linkcode ARENA_THRESHOLD} bytes (biases, norms, scalars) first-fit in a space of their own that grows by
 * {@linkcode SMALL_SPACE_GROWTH}, so they neither pin large holes apart nor make emmalloc grow between the large
 * spans; larger ones (the activations, gradients, weights and optimizer state: nearly all bytes) are placed:
 *
 * - `"first-fit"`: in the lowest hole that fits;
 * - `"plan"` (the default): the first training step (between {@linkcode HeapArena.beginStep} and
 *   {@linkcode HeapArena.endStep}, which the `Trainer` calls) is placed first-fit and recorded; its
 *   allocation sequence is then planned (`heap_plan.ts`) and the next steps put every block at its planned address,
 *   falling back to first-fit for any block whose address is not free (or when a step's sizes differ from the plan:
 *   that step is recorded and planned again). A planned address is used only when the space finds it free, so a
 *   wrong plan costs memory, never correctness.
 *
 * Only the module's own C++ allocations stay with emmalloc.
 * @module
 */
import { type HeapPlan, planHeap, type StepRecord } from "./heap_plan.ts";
import { blockSize, type BreakProvider, HeapSpace, type Span } from "./heap_space.ts";

/** Requests of this many bytes and more are planned; smaller ones go to the arena's space for small blocks. */
export const ARENA_THRESHOLD = 64 * 1024;

/** The space for small blocks grows by at least this much, so that it rarely splits the large blocks' spans. */
export const SMALL_SPACE_GROWTH = 1 << 20;

/** How the arena places blocks: see the module doc. `"off"` leaves every new request to emmalloc. */
export type ArenaMode = "plan" | "first-fit" | "off";

/** What the arena did so far (for reports and tests). */
export interface ArenaStats {
  /** Steps marked. */
  steps: number;
  /** Plans computed. */
  plans: number;
  /** Blocks put at their planned address. */
  planned: number;
  /** Blocks of planned steps placed first-fit instead (their address was not free, or the step left the plan). */
  fallbacks: number;
  /** The top of the last plan. */
  planTop: number;
}

/**
 * Large blocks in spans of their own, placed first-fit or by a plan of the training step. Created by the heap tracker
 * (`initBackend` sets its mode from the `heap` backend option).
 *
 * @example Usage
 * ```ts
 * import { HeapArena } from "./heap_arena.ts";
 * import assert from "node:assert/strict";
 *
 * let top = 1 << 20;
 * const arena = new HeapArena({ brk: () => top, sbrk: (n) => (top += n) - n }, "plan");
 * for (let step = 0; step < 3; step++) {
 *   arena.beginStep();
 *   const a = arena.malloc(1 << 16), b = arena.malloc(1 << 17);
 *   arena.free(a);
 *   arena.free(b);
 *   arena.endStep();
 * }
 * assert.equal(arena.stats.plans, 1); // planned after the first step, followed since
 * assert.equal(arena.stats.fallbacks, 0);
 * ```
 */
export class HeapArena {
  /** How new requests are placed. */
  mode: ArenaMode;
  readonly #space: HeapSpace;
  readonly #small: HeapSpace;
  #plan: HeapPlan | undefined;
  #parity: 0 | 1 = 0;
  #planning = false; // a plan applies to this step
  #diverged = false;
  #stepFallbacks = 0;
  #inStep = false;
  #record: StepRecord | undefined;
  #recordIndex = new Map<number, number>(); // address -> index in #record
  #event = 0;
  #stats: ArenaStats = { steps: 0, plans: 0, planned: 0, fallbacks: 0, planTop: 0 };

  constructor(provider: BreakProvider, mode: ArenaMode = "plan") {
    this.#space = new HeapSpace(provider);
    this.#small = new HeapSpace(provider, SMALL_SPACE_GROWTH);
    this.mode = mode;
  }

  /** The spans the arena owns, by address. */
  get spans(): readonly Span[] {
    return [...this.#space.spans, ...this.#small.spans].sort((a, b) => a.start - b.start);
  }

  /** Bytes of live arena blocks. */
  get liveBytes(): number {
    return this.#space.liveBytes + this.#small.liveBytes;
  }

  /** The holes in the arena's spans, `[start, size]`. */
  holes(): [number, number][] {
    return [...this.#space.holes(), ...this.#small.holes()];
  }

  /** Bytes of holes in the arena's spans. */
  get freeBytes(): number {
    return this.#space.freeBytes + this.#small.freeBytes;
  }

  /** The plan in force, if any. */
  get plan(): HeapPlan | undefined {
    return this.#plan;
  }

  /** The layout the next step takes (`plan.addresses[nextParity]`) unless that step starts with a new plan. */
  get nextParity(): 0 | 1 {
    return this.#plan && !this.#inStep ? (this.#parity === 0 ? 1 : 0) : this.#parity;
  }

  /** What the arena did so far. */
  get stats(): Readonly<ArenaStats> {
    return { ...this.#stats };
  }

  /** True when the arena holds the block at `ptr`. */
  owns(ptr: number): boolean {
    return this.#space.sizeOf(ptr) !== undefined || this.#small.sizeOf(ptr) !== undefined;
  }

  /** A block for a request of `bytes`, or 0 when the arena is off or memory is out. */
  malloc(bytes: number): number {
    if (this.mode === "off") return 0;
    if (bytes < ARENA_THRESHOLD) return this.#small.alloc(bytes);
    const n = blockSize(bytes);
    this.#event++;
    const index = this.#record?.sizes.length ?? 0;
    let ptr = 0;
    if (this.#planning && !this.#diverged) {
      const plan = this.#plan!;
      if (index < plan.sizes.length && plan.sizes[index] === n) {
        ptr = this.#space.allocAt(plan.addresses[this.#parity][index], n);
        if (ptr) this.#stats.planned++;
      } else this.#diverged = true;
      if (!ptr) {
        this.#stats.fallbacks++;
        this.#stepFallbacks++;
      }
    }
    if (!ptr) ptr = this.#space.alloc(n);
    if (!ptr) return 0;
    if (this.#inStep) {
      const r = this.#record!;
      r.sizes.push(n);
      r.alloc.push(this.#event);
      r.free.push(-1);
      this.#recordIndex.set(ptr, index);
    }
    return ptr;
  }

  /** Frees the arena's block at `ptr`; false when the block is not the arena's. */
  free(ptr: number): boolean {
    if (this.#small.free(ptr)) return true;
    if (this.#space.sizeOf(ptr) === undefined) return false;
    this.#event++;
    const i = this.#recordIndex.get(ptr);
    if (i !== undefined && this.#inStep) {
      this.#record!.free[i] = this.#event;
      this.#recordIndex.delete(ptr);
    }
    this.#space.free(ptr);
    return true;
  }

  /**
   * Marks the start of a training step (the `Trainer` calls it, and {@linkcode HeapArena.endStep} after the step).
   * In `"plan"` mode, the last step recorded is planned first when there is no plan yet or when it left its plan
   * (other sizes, or blocks placed first-fit); the steps after a plan alternate its two layouts. Only blocks of the
   * steps themselves are recorded and planned: what runs between steps (evaluation, logging) is placed first-fit.
   */
  beginStep(): void {
    if (this.#inStep) this.endStep();
    this.#stats.steps++;
    const record = this.#record;
    const replan = this.mode === "plan" && record !== undefined && record.sizes.length > 0 &&
      (!this.#plan || this.#diverged || this.#stepFallbacks > 0);
    if (replan) {
      this.#plan = planHeap(record, this.#context(record));
      this.#stats.plans++;
      this.#stats.planTop = this.#plan.top;
      this.#parity = 0;
    } else if (this.#plan) this.#parity = this.#parity === 0 ? 1 : 0;
    this.#planning = this.mode === "plan" && this.#plan !== undefined;
    this.#inStep = true;
    this.#diverged = false;
    this.#stepFallbacks = 0;
    this.#event = 0;
    this.#record = { sizes: [], alloc: [], free: [], length: 0 };
    this.#recordIndex.clear();
  }

  /** Marks the end of a training step: blocks allocated from now until the next step are not planned or recorded. */
  endStep(): void {
    if (!this.#inStep) return;
    this.#inStep = false;
    this.#planning = false;
    this.#record!.length = this.#event;
  }

  /** Forgets the plan and the last record (a new run: its first step is recorded and planned again). */
  resetPlan(): void {
    this.#plan = undefined;
    this.#planning = false;
    if (!this.#inStep) this.#record = undefined;
  }

  /** Pins, obstacles and base of a plan made now from `record`. */
  #context(record: StepRecord): { pinned: (number | undefined)[]; obstacles: [number, number][]; base: number } {
    const pinned: (number | undefined)[] = new Array(record.sizes.length);
    for (const [address, i] of this.#recordIndex) pinned[i] = address;
    const pinnedSet = new Set(this.#recordIndex.keys());
    const obstacles: [number, number][] = [];
    for (const [address, size] of this.#space.blocks()) {
      if (!pinnedSet.has(address)) obstacles.push([address, address + size]);
    }
    const spans = this.#space.spans;
    for (let i = 0; i + 1 < spans.length; i++) obstacles.push([spans[i].end, spans[i + 1].start]);
    const last = spans[spans.length - 1];
    const base = spans[0]?.start ?? 0;
    // Memory between the last span and the break is the module's: the plan may not use it.
    const brk = this.#space.brk;
    if (last && brk > last.end) obstacles.push([last.end, brk]);
    return { pinned, obstacles, base };
  }
}
