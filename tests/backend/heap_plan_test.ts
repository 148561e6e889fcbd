import assert from "node:assert/strict";
import { planHeap, type StepRecord } from "../../lib/backend/heap_plan.ts";
import { Rng } from "../../lib/data/mod.ts";

interface Life {
  start: number;
  end: number;
  size: number;
  address: number;
}

/** The periodic lifetimes (period: two steps) of every block the plan places, as the module doc defines them. */
function lives(record: StepRecord, addresses: [number[], number[]]): Life[] {
  const L = record.length, out: Life[] = [];
  record.sizes.forEach((size, i) => {
    const end = record.free[i] < 0 ? 2 * L : record.free[i];
    out.push({ start: record.alloc[i], end, size, address: addresses[0][i] });
    out.push({ start: record.alloc[i] + L, end: end + L, size, address: addresses[1][i] });
  });
  return out;
}

function checkPlan(record: StepRecord, pinned: (number | undefined)[], obstacles: [number, number][], base: number) {
  const plan = planHeap(record, { pinned, obstacles, base });
  const Q = 2 * record.length;
  const all = lives(record, plan.addresses);
  for (let i = 0; i < all.length; i++) {
    const x = all[i];
    assert.ok(x.address >= base, "at or above the base");
    for (const [s, e] of obstacles) assert.ok(x.address + x.size <= s || x.address >= e, "clear of obstacles");
    for (let j = i + 1; j < all.length; j++) {
      const y = all[j];
      const together = [-Q, 0, Q].some((k) => x.start < y.end + k && y.start + k < x.end);
      if (together) {
        assert.ok(x.address + x.size <= y.address || y.address + y.size <= x.address, "alive together: disjoint");
      }
    }
  }
  record.sizes.forEach((_, i) => {
    if (record.free[i] < 0 && pinned[i] !== undefined) assert.equal(plan.addresses[1][i], pinned[i], "pinned");
  });
  assert.equal(plan.top, Math.max(base, ...all.map((x) => x.address + x.size)));
  return plan;
}

/** A random step: blocks alive for random spans, some carried past the step's end. */
function randomStep(rng: Rng, n: number): StepRecord {
  const events: ["a" | "f", number][] = [];
  const open: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) {
    while (open.length && rng.uniform() < 0.4) {
      events.push(["f", open.splice(Math.floor(rng.uniform() * open.length), 1)[0]]);
    }
    sizes.push(8 * (1 + Math.floor(rng.uniform() * 64)));
    events.push(["a", i]);
    open.push(i);
  }
  for (const i of open) if (rng.uniform() < 0.5) events.push(["f", i]); // the rest are carried
  const alloc = new Array(n).fill(0), free = new Array(n).fill(-1);
  events.forEach(([kind, i], t) => (kind === "a" ? alloc : free)[i] = t + 1);
  return { sizes, alloc, free, length: events.length };
}

Deno.test("planHeap(): blocks alive together never overlap, pins and obstacles are respected (random steps)", () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 40; trial++) {
    const record = randomStep(rng, 5 + Math.floor(rng.uniform() * 40));
    const base = 1024;
    // the recorded step's carried blocks sit at distinct addresses far up; an obstacle lies in the middle
    const pinned = record.free.map((f, i) => f < 0 && rng.uniform() < 0.8 ? (1 << 20) + 1024 * i : undefined);
    const obstacles: [number, number][] = [[base + 2048, base + 4096]];
    checkPlan(record, pinned, obstacles, base);
  }
});

Deno.test("planHeap(): a forward/backward step (a stack of activations) is planned in its live peak", () => {
  // forward allocates 6 activations of growing size, backward frees them in reverse: live peak = their sum
  const sizes = [64, 128, 192, 256, 320, 384];
  const alloc = [1, 2, 3, 4, 5, 6], free = [12, 11, 10, 9, 8, 7];
  const record: StepRecord = { sizes, alloc, free, length: 12 };
  const plan = checkPlan(record, [], [], 0);
  assert.equal(plan.top, sizes.reduce((a, b) => a + b, 0), "no byte more than the live peak");
  assert.deepEqual(plan.addresses[0], plan.addresses[1], "without carried blocks both parities share one layout");
});

Deno.test("planHeap(): carried blocks of consecutive steps get two slots; the recorded step's stay pinned", () => {
  // a transient, then a carried block (the new parameters) allocated while the old ones (pinned) are alive
  const record: StepRecord = { sizes: [512, 256], alloc: [1, 3], free: [2, -1], length: 4 };
  const plan = checkPlan(record, [undefined, 8192], [], 0);
  assert.equal(plan.addresses[1][1], 8192);
  assert.notEqual(plan.addresses[0][1], 8192, "the next step's new parameters cannot take the old ones' place");
  assert.equal(plan.addresses[0][1], 0, "they take the lowest free bytes (the transient is dead by then)");
});
