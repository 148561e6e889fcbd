import assert from "node:assert/strict";
import { ARENA_THRESHOLD, type ArenaMode, HeapArena } from "../../lib/backend/heap_arena.ts";

const K = ARENA_THRESHOLD;

function fakeBreak() {
  const p = { top: 1 << 16, brk: () => p.top, sbrk: (n: number) => (p.top += n) - n };
  return p;
}

/** Live blocks handed out, checked for overlap at every allocation. */
class Blocks {
  live = new Map<number, number>();
  add(ptr: number, n: number): number {
    assert.ok(ptr > 0, "allocated");
    for (const [a, m] of this.live) assert.ok(ptr + n <= a || a + m <= ptr, `[${ptr}, +${n}) overlaps [${a}, +${m})`);
    this.live.set(ptr, n);
    return ptr;
  }
  drop(arena: HeapArena, ptr: number): void {
    assert.ok(arena.free(ptr));
    this.live.delete(ptr);
  }
}

/**
 * One training step: forward keeps 4 activations, a scratch block and a small one come and go, backward frees the
 * activations while making gradients, the update makes new parameters (carried) and frees the old ones.
 */
function step(arena: HeapArena, blocks: Blocks, params: number[], extra = 0): number[] {
  const acts: number[] = [];
  for (let i = 0; i < 4; i++) {
    acts.push(blocks.add(arena.malloc(8 * K), 8 * K));
    const scratch = blocks.add(arena.malloc(3 * K + extra), 3 * K + extra);
    const small = blocks.add(arena.malloc(100), 100);
    blocks.drop(arena, scratch);
    blocks.drop(arena, small);
  }
  const grads: number[] = [];
  for (const a of acts.reverse()) {
    grads.push(blocks.add(arena.malloc(2 * K), 2 * K));
    blocks.drop(arena, a);
  }
  const next = params.map(() => blocks.add(arena.malloc(2 * K), 2 * K));
  for (const g of grads) blocks.drop(arena, g);
  for (const p of params) blocks.drop(arena, p);
  return next;
}

function run(mode: ArenaMode, steps: number, divergeAt = -1) {
  const brk = fakeBreak();
  const arena = new HeapArena(brk, mode);
  const blocks = new Blocks();
  let params = [0, 1, 2].map(() => blocks.add(arena.malloc(2 * K), 2 * K));
  const tops: number[] = [];
  for (let s = 0; s < steps; s++) {
    arena.beginStep();
    params = step(arena, blocks, params, s === divergeAt ? 8 : 0);
    arena.endStep();
    tops.push(brk.top);
  }
  return { arena, blocks, params, tops, brk };
}

Deno.test("HeapArena: after the first step every block follows the plan; the heap stops growing", () => {
  const { arena, tops } = run("plan", 8);
  const s = arena.stats;
  assert.equal(s.plans, 1);
  assert.equal(s.fallbacks, 0);
  assert.equal(s.planned, 7 * (4 * 2 + 4 + 3), "every large block of steps 2..8 at its planned address");
  assert.deepEqual(new Set(tops.slice(2)).size, 1, `steady from the third step: ${tops}`);
  assert.ok(s.planTop <= tops[tops.length - 1]);
});

Deno.test("HeapArena: the plan holds the heap at or below first fit's on a repeating step", () => {
  const plan = run("plan", 8), firstFit = run("first-fit", 8);
  assert.ok(plan.brk.top <= firstFit.brk.top, `plan ${plan.brk.top} vs first-fit ${firstFit.brk.top}`);
});

Deno.test("HeapArena: a step that leaves the plan falls back to first fit, is planned again, then followed", () => {
  const { arena } = run("plan", 6, 3);
  const s = arena.stats;
  assert.ok(s.fallbacks > 0, "the diverging step's blocks were placed first-fit");
  // planned after the first step, after the odd one (its sizes), and after the next (back to the usual sizes)
  assert.equal(s.plans, 3);
  const { arena: again } = run("plan", 9, 3);
  assert.equal(again.stats.fallbacks, s.fallbacks, "no fallback after the third plan");
  assert.equal(again.stats.plans, 3);
});

Deno.test("HeapArena: a planned address taken by another block falls back without overlap; frees leak nothing", () => {
  const brk = fakeBreak();
  const arena = new HeapArena(brk, "plan");
  const blocks = new Blocks();
  let params = [0, 1, 2].map(() => blocks.add(arena.malloc(2 * K), 2 * K));
  arena.beginStep();
  params = step(arena, blocks, params);
  arena.endStep();
  arena.beginStep(); // planned from the first step
  params = step(arena, blocks, params);
  arena.endStep();
  // Between steps, blocks fill the lowest holes until one lies where the plan puts the next step's first block.
  const planned = arena.plan!.addresses[arena.nextParity][0];
  const squatters: number[] = [];
  while (!squatters.some((p) => p < planned + 8 * K && planned < p + K)) squatters.push(blocks.add(arena.malloc(K), K));
  arena.beginStep();
  params = step(arena, blocks, params);
  arena.endStep();
  assert.ok(arena.stats.fallbacks >= 1, "the taken address made the block fall back");
  for (const p of squatters) blocks.drop(arena, p);
  for (const p of params) blocks.drop(arena, p);
  assert.equal(blocks.live.size, 0);
  assert.equal(arena.liveBytes, 0, "every block is back");
  assert.equal(arena.freeBytes, arena.spans.reduce((a, sp) => a + sp.end - sp.start, 0));
});

Deno.test("HeapArena: mode off leaves requests to the module; frees of blocks not its own return false", () => {
  const arena = new HeapArena(fakeBreak(), "off");
  assert.equal(arena.malloc(K), 0);
  arena.mode = "first-fit";
  const p = arena.malloc(K);
  arena.mode = "off";
  assert.equal(arena.free(p), true, "a block keeps its allocator after the mode changes");
  assert.equal(arena.free(12345), false);
});

Deno.test("HeapArena: what runs between steps is neither recorded nor planned", () => {
  const brk = fakeBreak();
  const arena = new HeapArena(brk, "plan");
  const blocks = new Blocks();
  let params = [0, 1, 2].map(() => blocks.add(arena.malloc(2 * K), 2 * K));
  for (let s = 0; s < 5; s++) {
    arena.beginStep();
    params = step(arena, blocks, params);
    arena.endStep();
    const evalBlock = blocks.add(arena.malloc(5 * K), 5 * K); // an evaluation between steps
    blocks.drop(arena, evalBlock);
  }
  assert.equal(arena.stats.plans, 1);
  assert.equal(arena.stats.fallbacks, 0);
});
