import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { copyTask, countTask } from "../../lib/data/synthetic.ts";

Deno.test("copyTask() repeats the first half and masks only the second half", () => {
  for (const context of [2, 7, 8]) {
    const batch = 5, vocab = 11, h = Math.ceil(context / 2);
    const { x, y, mask } = copyTask(new Rng(context), { batch, context, vocab });
    assert.equal(x.length, batch * context);
    assert.ok(mask);
    for (let b = 0; b < batch; b++) {
      const row = (a: ArrayLike<number>) => Array.from(a).slice(b * context, (b + 1) * context);
      const xr = row(x), yr = row(y), mr = row(mask);
      assert.ok(xr.every((v) => Number.isInteger(v) && v >= 0 && v < vocab));
      for (let t = h; t < context; t++) assert.equal(xr[t], xr[t - h], `context ${context} row ${b} t ${t}`);
      assert.deepEqual(yr.slice(0, context - 1), xr.slice(1));
      assert.equal(yr[context - 1], xr[context % h]);
      assert.deepEqual(mr, Array.from({ length: context }, (_, t) => (t >= h ? 1 : 0)));
    }
  }
});

Deno.test("copyTask() masked targets are all predictable from earlier inputs", () => {
  const context = 10;
  const { x, y, mask } = copyTask(new Rng(0), { batch: 3, context, vocab: 50 });
  for (let i = 0; i < x.length; i++) {
    if (!mask![i]) continue;
    const rowStart = i - (i % context);
    assert.ok(Array.from(x.subarray(rowStart, i + 1)).includes(y[i]));
  }
});

Deno.test("copyTask() is deterministic for a seed and varies across rows", () => {
  const opts = { batch: 4, context: 12, vocab: 100 };
  assert.deepEqual(copyTask(new Rng(2), opts), copyTask(new Rng(2), opts));
  const { x } = copyTask(new Rng(2), opts);
  assert.notDeepEqual(x.subarray(0, 12), x.subarray(12, 24));
});

Deno.test("countTask() counts up modulo vocab from a random start per row", () => {
  const batch = 20, context = 6, vocab = 5;
  const { x, y, mask } = countTask(new Rng(9), { batch, context, vocab });
  assert.equal(mask, undefined);
  const starts = new Set<number>();
  for (let b = 0; b < batch; b++) {
    starts.add(x[b * context]);
    for (let t = 0; t < context; t++) {
      const i = b * context + t;
      assert.equal(y[i], (x[i] + 1) % vocab);
      if (t > 0) assert.equal(x[i], y[i - 1]);
    }
  }
  assert.equal(starts.size, vocab);
  assert.deepEqual(countTask(new Rng(9), { batch, context, vocab }), { x, y });
});

Deno.test("copyTask() and countTask() validate batch, context and vocab", () => {
  const rng = new Rng(0);
  for (const task of [copyTask, countTask]) {
    assert.throws(() => task(rng, { batch: 0, context: 4, vocab: 4 }), /'batch' must be a positive integer/);
    assert.throws(
      () => task(rng, { batch: 1, context: 1, vocab: 4 }),
      /'context' must be an integer >= 2: current value is 1/,
    );
    assert.throws(() => task(rng, { batch: 1, context: 4, vocab: 1 }), /'vocab' must be an integer >= 2/);
    assert.throws(() => task(rng, { batch: 1, context: 4, vocab: 2.5 }), RangeError);
  }
});
