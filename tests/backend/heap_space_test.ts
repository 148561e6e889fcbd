import assert from "node:assert/strict";
import { blockSize, type BreakProvider, HeapSpace } from "../../lib/backend/heap_space.ts";
import { Rng } from "../../lib/data/mod.ts";

/** A break that others move too (the module's allocator taking memory between the space's growths). */
function fakeBreak(start = 4096): BreakProvider & { top: number; other(bytes: number): void } {
  const p = {
    top: start,
    brk: () => p.top,
    sbrk: (bytes: number) => {
      const old = p.top;
      p.top += bytes;
      return old;
    },
    other: (bytes: number) => void (p.top += bytes),
  };
  return p;
}

/** Checks the space's invariants: spans = live blocks + holes, no overlap, holes never adjacent within a span. */
function checkSpace(space: HeapSpace): void {
  const pieces = [
    ...space.blocks().map(([a, n]) => ({ a, n, live: true })),
    ...space.holes().map(([a, n]) => ({ a, n, live: false })),
  ].sort((x, y) => x.a - y.a);
  let covered = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    assert.ok(p.n > 0 && p.a % 8 === 0 && p.n % 8 === 0, `piece at ${p.a}: aligned, non-empty`);
    const span = space.spans.find((s) => p.a >= s.start && p.a + p.n <= s.end);
    assert.ok(span, `piece [${p.a}, ${p.a + p.n}) lies in a span`);
    if (i > 0) {
      const q = pieces[i - 1];
      assert.ok(q.a + q.n <= p.a, `pieces [${q.a}, ${q.a + q.n}) and [${p.a}, ...) do not overlap`);
      const sameSpan = q.a >= span.start;
      assert.ok(!(sameSpan && !q.live && !p.live && q.a + q.n === p.a), "adjacent holes are merged");
    }
    covered += p.n;
  }
  assert.equal(covered, space.spanBytes, "live blocks and holes cover the spans exactly");
  assert.equal(space.liveBytes + space.freeBytes, space.spanBytes);
}

Deno.test("HeapSpace: first fit, merging frees and growth by exactly what the top hole lacks", () => {
  const brk = fakeBreak();
  const space = new HeapSpace(brk);
  const a = space.alloc(1000), b = space.alloc(2000), c = space.alloc(3000);
  assert.deepEqual([a, b, c], [4096, 4096 + 1000, 4096 + 3000]);
  assert.equal(brk.top, 4096 + 6000);
  space.free(b);
  assert.equal(space.alloc(500), b, "the lowest hole that fits");
  space.free(c);
  // the top hole now runs from b + 504 to the break: a request of 5000 takes it and grows by what it lacks
  const d = space.alloc(5000);
  assert.equal(d, b + 504);
  assert.equal(brk.top, d + 5000);
  checkSpace(space);
  assert.equal(space.free(12345), false, "not a block of the space");
});

Deno.test("HeapSpace: a new span when others took the memory above it; allocAt only where all is free", () => {
  const brk = fakeBreak();
  const space = new HeapSpace(brk);
  const a = space.alloc(800);
  brk.other(100 * 8); // the module's allocator grew
  const b = space.alloc(800);
  assert.equal(space.spans.length, 2);
  assert.equal(b, a + 800 + 800);
  space.free(a);
  assert.equal(space.allocAt(a + 8, 800), 0, "runs past the hole's end (into the other allocator's memory)");
  assert.equal(space.allocAt(a + 8, 792), a + 8, "inside the hole");
  assert.equal(space.allocAt(b, 8), 0, "a live block");
  const top = brk.top;
  assert.equal(space.allocAt(top + 64, 16), top + 64, "above the break: the top span grows to it");
  assert.equal(brk.top, top + 80);
  checkSpace(space);
  assert.equal(space.allocAt(3, 8), 0, "unaligned addresses are refused");
});

Deno.test("HeapSpace: random allocations and frees keep the invariants and free everything back", () => {
  const rng = new Rng(7);
  const brk = fakeBreak();
  const space = new HeapSpace(brk, 4096);
  const live: number[] = [];
  for (let i = 0; i < 3000; i++) {
    if (live.length && rng.uniform() < 0.45) {
      const k = Math.floor(rng.uniform() * live.length);
      assert.ok(space.free(live[k]));
      live.splice(k, 1);
    } else if (rng.uniform() < 0.2) {
      // at a chosen address: a hole's start (as plans do), or anywhere
      const holes = space.holes();
      const at = holes.length ? holes[Math.floor(rng.uniform() * holes.length)][0] : brk.top;
      const p = space.allocAt(at, 8 + Math.floor(rng.uniform() * 2000));
      if (p) live.push(p);
    } else {
      if (rng.uniform() < 0.05) brk.other(8 * Math.floor(1 + rng.uniform() * 50));
      live.push(space.alloc(1 + Math.floor(rng.uniform() * 20000)));
    }
    if (i % 100 === 0) checkSpace(space);
  }
  checkSpace(space);
  for (const p of live) space.free(p);
  assert.equal(space.liveBytes, 0);
  assert.equal(space.freeBytes, space.spanBytes);
  assert.equal(space.holes().length, space.spans.length, "one hole per span once all is free");
});

Deno.test("blockSize() rounds up to 8 bytes, at least 8", () => {
  assert.deepEqual([0, 1, 8, 9, 4096].map(blockSize), [8, 8, 8, 16, 4096]);
});
