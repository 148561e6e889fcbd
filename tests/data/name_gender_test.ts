import assert from "node:assert/strict";
import { loadNameGender } from "../../lib/data/mod.ts";

Deno.test("loadNameGender: names in both lists dropped, disjoint fixed splits, determined by the seed", async () => {
  const a = await loadNameGender({ seed: 0 });
  assert.equal(a.test.length, 1000);
  assert.equal(a.dev.length, 500);
  assert.equal(a.train.length + a.dev.length + a.test.length, 4525 + 3478);
  assert.equal(a.ambiguous.length, 419);
  const seen = new Set<string>();
  for (const e of [...a.train, ...a.dev, ...a.test]) {
    assert.ok(!seen.has(e.name), `${e.name} twice`);
    seen.add(e.name);
  }
  for (const n of a.ambiguous) assert.ok(!seen.has(n), `${n} is in both lists but kept`);
  const females = [...a.train, ...a.dev, ...a.test].filter((e) => e.label === 0).length;
  assert.equal(females, 4525);
  const b = await loadNameGender({ seed: 0 }), c = await loadNameGender({ seed: 1 });
  assert.deepEqual(b.test, a.test);
  assert.notDeepEqual(c.test, a.test);
  const small = await loadNameGender({ seed: 0, test: 10, dev: 5 });
  assert.deepEqual(small.test, a.test.slice(0, 10));
});

Deno.test("loadNameGender: clear errors for bad sizes", async () => {
  await assert.rejects(
    () => loadNameGender({ test: -1 }),
    /'test' must be a non-negative integer: current value is -1/,
  );
  await assert.rejects(() => loadNameGender({ dev: 9000 }), /'test' \+ 'dev' must be below 8003 names/);
});
