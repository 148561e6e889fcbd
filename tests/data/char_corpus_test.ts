import assert from "node:assert/strict";
import { charCorpusFromText, loadCharCorpus } from "../../lib/data/char_corpus.ts";

Deno.test("charCorpusFromText() builds a sorted vocabulary and round-trips text", () => {
  const c = charCorpusFromText("banana bread", { name: "b" });
  assert.equal(c.name, "b");
  assert.deepEqual(c.vocab, [" ", "a", "b", "d", "e", "n", "r"]);
  assert.equal(c.vocabSize, 7);
  assert.equal(c.stoi.get("n"), 5);
  assert.deepEqual(c.encode("bad"), Int32Array.of(2, 1, 3));
  assert.equal(c.decode(c.encode("banana bread")), "banana bread");
  assert.equal(c.decode([]), "");
});

Deno.test("charCorpusFromText() splits contiguously with the last valFraction for validation", () => {
  const text = "abcdefghij".repeat(10);
  const c = charCorpusFromText(text, { valFraction: 0.25 });
  assert.equal(c.train.length, 75);
  assert.equal(c.val.length, 25);
  assert.equal(c.decode(c.train) + c.decode(c.val), text);
  const d = charCorpusFromText(text);
  assert.equal(d.val.length, 10); // default 0.1
  assert.equal(charCorpusFromText(text, { valFraction: 0 }).val.length, 0);
});

Deno.test("charCorpusFromText() truncates to maxChars but keeps the full vocabulary", () => {
  const c = charCorpusFromText("aaaaaaaaaz", { maxChars: 5, valFraction: 0.2 });
  assert.deepEqual(c.vocab, ["a", "z"]);
  assert.equal(c.train.length + c.val.length, 5);
  assert.equal(c.val.length, 1);
});

Deno.test("charCorpusFromText() treats astral characters as single tokens", () => {
  const c = charCorpusFromText("a😀b😀", { valFraction: 0 });
  assert.equal(c.vocabSize, 3);
  assert.equal(c.train.length, 4);
  assert.equal(c.decode(c.train), "a😀b😀");
});

Deno.test("charCorpusFromText() encode/decode reject unknown characters and ids", () => {
  const c = charCorpusFromText("abc");
  assert.throws(() => c.encode("abd"), { name: "RangeError", message: /not in the vocabulary: current value is "d"/ });
  assert.throws(() => c.decode([3]), /ids must be integers in \[0, 3\): current value is 3/);
  assert.throws(() => c.decode([-1]), RangeError);
  assert.throws(() => c.decode([0.5]), RangeError);
});

Deno.test("charCorpusFromText() validates valFraction and maxChars", () => {
  for (const valFraction of [-0.1, 1, NaN]) {
    assert.throws(() => charCorpusFromText("abc", { valFraction }), RangeError, `valFraction ${valFraction}`);
  }
  assert.throws(() => charCorpusFromText("abc", { maxChars: 0 }), /'maxChars' must be a positive integer/);
});

Deno.test("loadCharCorpus() loads Moby Dick without the table of contents", async () => {
  const c = await loadCharCorpus({ name: "moby-dick" });
  assert.equal(c.name, "moby-dick");
  assert.equal(c.vocabSize, 89);
  assert.ok(c.vocab.includes("\n") && c.vocab.includes("—"));
  const n = c.train.length + c.val.length;
  assert.ok(n > 1_200_000 && n < 1_220_000, `total ${n}`);
  assert.equal(c.val.length, Math.round(n * 0.1));
  assert.match(c.decode(c.train.subarray(0, 10)), /^ETYMOLOGY/);
});

Deno.test("loadCharCorpus() honours maxChars and valFraction", async () => {
  const c = await loadCharCorpus({ name: "moby-dick", maxChars: 1000, valFraction: 0.2 });
  assert.equal(c.train.length, 800);
  assert.equal(c.val.length, 200);
  assert.equal(c.vocabSize, 89);
});

Deno.test("loadCharCorpus() loads first names as one shuffled name per line", async () => {
  const c = await loadCharCorpus({ name: "first-names", valFraction: 0 });
  const names = c.decode(c.train).split("\n");
  assert.equal(names.length, 4951 + 3898);
  assert.ok(names.every((s) => /^[A-Z][A-Za-z' -]*$/.test(s)), "every line is a capitalized name");
  assert.ok(names.includes("Aaron") && names.includes("Aaren"));
  assert.notDeepEqual(names.slice(0, 5), [...names].sort().slice(0, 5));
  const again = await loadCharCorpus({ name: "first-names", valFraction: 0 });
  assert.deepEqual(again.train, c.train);
  const other = await loadCharCorpus({ name: "first-names", valFraction: 0, seed: 1 });
  assert.notDeepEqual(other.train, c.train);
  assert.deepEqual([...other.train].sort(), [...c.train].sort());
});

Deno.test("loadCharCorpus() validates options before loading", async () => {
  await assert.rejects(loadCharCorpus({ name: "shakespeare" as "moby-dick" }), {
    name: "RangeError",
    message: /'name' must be "moby-dick" or "first-names": current value is shakespeare/,
  });
  await assert.rejects(loadCharCorpus({ name: "moby-dick", valFraction: 1 }), RangeError);
  await assert.rejects(loadCharCorpus({ name: "moby-dick", maxChars: -5 }), RangeError);
  await assert.rejects(loadCharCorpus({ name: "first-names", seed: 0.5 }), /'seed' must be a safe integer/);
});
