/**
 * The heap plan: where each large block of a training step goes, computed once from one recorded step so that the
 * steps after it reuse one compact layout instead of whatever the holes of the previous steps allow.
 *
 * A training step repeats its allocations (same sizes, same order, same lifetimes). A block either dies within its
 * step (a transient: activations, gradients, scratch) or outlives it (carried: the new parameters and optimizer state,
 * freed when the next step replaces them). Carried blocks of consecutive steps are alive together (the update reads
 * the old parameters while writing the new), so the plan alternates two layouts: steps of parity 0 and 1. The
 * recorded step is parity 1; its carried blocks are alive at plan time and keep their addresses (pinned), and the next
 * step is parity 0. Lifetimes are periodic (period: two steps); a carried block is taken to live until the end of the
 * next step. Placement is greedy (as memory planners do, e.g. TFLite's arena planner): pinned blocks, then carried
 * blocks by size, then transients by size, each at the lowest address where no block alive at an overlapping time
 * and no obstacle lies.
 * @module
 */

/** One recorded step of large blocks, by allocation order. */
export interface StepRecord {
  /** Block sizes (already rounded). */
  sizes: number[];
  /** Event time of each allocation (allocations and frees of the step are numbered 1, 2, ...). */
  alloc: number[];
  /** Event time of each free within the step, or -1 when the block was still alive at the step's end (carried). */
  free: number[];
  /** Events in the step (its length in time). */
  length: number;
}

/** What {@linkcode planHeap} places around. */
export interface PlanContext {
  /** Current address of each carried block of the record that is still alive (index-aligned; undefined: none). */
  pinned: (number | undefined)[];
  /** Address ranges `[start, end)` that are never free (other live blocks, memory the space does not own). */
  obstacles: [number, number][];
  /** The lowest address the plan may use. */
  base: number;
}

/** A plan: the address of every block of the record, for the steps of parity 0 (the next one) and 1. */
export interface HeapPlan {
  /** Block sizes the plan expects, in allocation order. */
  sizes: number[];
  /** Addresses for the steps of each parity. */
  addresses: [number[], number[]];
  /** The plan's top: the highest block end. */
  top: number;
}

interface Item {
  start: number;
  end: number;
  size: number;
  parity: 0 | 1;
  index: number;
  carried: boolean;
  address: number;
}

/**
 * Plans the next steps' blocks from one recorded step (see the module doc).
 *
 * @example Usage
 * ```ts
 * import { planHeap } from "./heap_plan.ts";
 * import assert from "node:assert/strict";
 *
 * // Two transients alive at the same time, then one carried block allocated after they died.
 * const record = { sizes: [64, 32, 16], alloc: [1, 2, 5], free: [3, 4, -1], length: 6 };
 * const plan = planHeap(record, { pinned: [undefined, undefined, 4096], obstacles: [], base: 1024 });
 * assert.deepEqual(plan.addresses[0], [1024, 1088, 1024]); // the carried block reuses the dead transient's bytes
 * assert.equal(plan.addresses[1][2], 4096); // the recorded step's carried block stays where it is
 * ```
 */
export function planHeap(record: StepRecord, ctx: PlanContext): HeapPlan {
  const L = record.length, Q = 2 * L;
  const items: Item[] = [];
  const fixed: Item[] = [];
  for (let i = 0; i < record.sizes.length; i++) {
    const carried = record.free[i] < 0;
    const a = record.alloc[i], f = carried ? 2 * L : record.free[i];
    const next: Item = { start: a, end: f, size: record.sizes[i], parity: 0, index: i, carried, address: -1 };
    const mine: Item = { ...next, start: a + L, end: f + L, parity: 1 };
    items.push(next);
    const pin = ctx.pinned[i];
    if (carried && pin !== undefined) {
      mine.address = pin;
      fixed.push(mine);
    } else items.push(mine);
  }
  items.sort((x, y) => (+y.carried - +x.carried) || y.size - x.size || x.start - y.start);
  const placed: Item[] = [...fixed];
  const overlaps = (x: Item, y: Item) =>
    (x.start < y.end && y.start < x.end) ||
    (x.start < y.end - Q && y.start - Q < x.end) ||
    (x.start < y.end + Q && y.start + Q < x.end);
  const obstacles = ctx.obstacles.map(([s, e]) => [s, e] as [number, number]);
  for (const it of items) {
    const busy = obstacles.slice();
    for (const p of placed) if (overlaps(p, it)) busy.push([p.address, p.address + p.size]);
    busy.sort((x, y) => x[0] - y[0]);
    let address = ctx.base;
    for (const [s, e] of busy) {
      if (e <= address) continue;
      if (address + it.size <= s) break;
      address = e;
    }
    it.address = address;
    placed.push(it);
  }
  const addresses: [number[], number[]] = [new Array(record.sizes.length), new Array(record.sizes.length)];
  let top = ctx.base;
  for (const p of placed) {
    addresses[p.parity][p.index] = p.address;
    top = Math.max(top, p.address + p.size);
  }
  return { sizes: record.sizes.slice(), addresses, top };
}
