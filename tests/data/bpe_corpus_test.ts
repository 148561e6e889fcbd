import assert from "node:assert/strict";
import {
  BPE_ENCODINGS,
  bpeCorpusFromText,
  type BpeTokenizer,
  loadBpeCorpus,
  loadBpeTokenizer,
} from "../../lib/data/bpe_corpus.ts";

/** A toy tokenizer: one id per word (space-separated), ids 0..9 by a fixed table, so counts are known. */
const WORDS = ["the", " cat", " hat", " and", " bat", " sat", " on", " a", " mat", ".", " the"];
const toy: BpeTokenizer = {
  name: "toy",
  vocabularySize: WORDS.length,
  encode: (s) => {
    const out: number[] = [];
    let rest = s;
    while (rest.length > 0) {
      const i = WORDS.findIndex((w) => rest.startsWith(w));
      if (i < 0) throw new Error(`toy tokenizer: cannot encode ${JSON.stringify(rest)}`);
      out.push(i);
      rest = rest.slice(WORDS[i].length);
    }
    return out;
  },
  decode: (ids) => ids.map((i) => WORDS[i]).join(""),
};

Deno.test("bpeCorpusFromText() keeps the ids the text uses, renumbered in the encoding's id order", () => {
  const c = bpeCorpusFromText("the cat sat on a mat. the bat sat.", toy, { valFraction: 0 });
  assert.deepEqual(Array.from(c.bpeIds), [0, 1, 4, 5, 6, 7, 8, 9, 10]); // " hat" (2) and " and" (3) are unused
  assert.equal(c.vocabSize, 9);
  assert.equal(c.unknownId, null);
  assert.equal(c.decode(c.train), "the cat sat on a mat. the bat sat.");
  assert.deepEqual(Array.from(c.encode("the bat")), [0, 2]);
  assert.throws(() => c.encode("the hat"), (e: Error) => e instanceof RangeError && /id 2/.test(e.message));
  assert.throws(() => c.decode([9]), RangeError);
});

Deno.test("bpeCorpusFromText() with maxVocab keeps the most frequent ids and maps the rest to the unknown id", () => {
  // " the", " sat" and "." twice each, the others once
  const c = bpeCorpusFromText("the cat sat. the bat sat. the mat", toy, { valFraction: 0, maxVocab: 4 });
  assert.deepEqual(Array.from(c.bpeIds), [5, 9, 10, -1]); // kept: " sat", ".", " the"; then the unknown id
  assert.equal(c.unknownId, 3);
  assert.equal(c.decode(c.train), "\uFFFD\uFFFD sat. the\uFFFD sat. the\uFFFD");
  assert.deepEqual(Array.from(c.encode("the hat")), [3, 3]);
});

Deno.test("bpeCorpusFromText() splits contiguously, truncates to maxTokens, and has a full-vocabulary mode", () => {
  const text = "the cat sat on a mat.".repeat(10); // 7 tokens per repeat
  const c = bpeCorpusFromText(text, toy, { valFraction: 0.2, maxTokens: 50 });
  assert.equal(c.train.length + c.val.length, 50);
  assert.equal(c.val.length, 10);
  const full = bpeCorpusFromText(text, toy, { vocab: "full" });
  assert.equal(full.vocabSize, WORDS.length);
  assert.deepEqual(Array.from(full.encode("the hat")), [0, 2]);
});

Deno.test("bpeCorpusFromText() rejects bad options, naming the value", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ valFraction: 1 }, /'valFraction' must be in \[0, 1\): current value is 1/],
    [{ maxTokens: 0 }, /'maxTokens' must be an integer >= 1: current value is 0/],
    [{ maxVocab: 1 }, /'maxVocab' must be an integer >= 2: current value is 1/],
    [{ vocab: "some" }, /'vocab' must be "corpus" or "full": current value is some/],
    [{ vocab: "full", maxVocab: 4 }, /'maxVocab' needs vocab "corpus"/],
  ];
  for (const [o, re] of bad) {
    assert.throws(
      () => bpeCorpusFromText("the cat", toy, o),
      (e: Error) => e instanceof RangeError && re.test(e.message),
    );
  }
});

Deno.test("loadBpeTokenizer() loads gpt-tokenizer's encodings; unknown names are a RangeError", async () => {
  assert.deepEqual([...BPE_ENCODINGS], ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]);
  const tok = await loadBpeTokenizer("r50k_base");
  assert.equal(tok.vocabularySize, 50257); // GPT-2's encoding
  assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
  assert.equal(tok.decode(tok.encode("<|endoftext|> is text here")), "<|endoftext|> is text here");
  await assert.rejects(
    () => loadBpeTokenizer("gpt9" as never),
    (e: Error) => e instanceof RangeError && /gpt9/.test(e.message),
  );
});

Deno.test("loadBpeCorpus() tokenizes Moby Dick with r50k_base into a 15,729-id corpus vocabulary", async () => {
  const c = await loadBpeCorpus({ name: "moby-dick" });
  assert.equal(c.encoding, "r50k_base");
  assert.equal(c.vocabSize, 15729);
  assert.equal(c.train.length + c.val.length, 292303);
  assert.equal(c.val.length, Math.round(292303 * 0.1));
  let max = 0;
  for (const id of c.train) max = Math.max(max, id);
  assert.equal(max, c.vocabSize - 1);
  assert.match(c.decode(c.train.subarray(0, 12)), /^ETYMOLOGY/);
});
