import assert from "node:assert/strict";
import { didYouMean, levenshtein, suggest } from "../../experiments/_lib/suggest.ts";

Deno.test("levenshtein() counts insertions, deletions and substitutions", () => {
  assert.equal(levenshtein("", ""), 0);
  assert.equal(levenshtein("abc", ""), 3);
  assert.equal(levenshtein("", "ab"), 2);
  assert.equal(levenshtein("basline", "baseline"), 1);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("lr", "lrr"), 1);
});

Deno.test("suggest() returns the closest plausible candidate", () => {
  assert.equal(suggest("basline", ["mezo", "baseline", "galore"]), "baseline");
  assert.equal(suggest("lrr", ["lr", "steps", "seed"]), "lr");
  assert.equal(suggest("Baseline", ["baseline"]), "baseline");
  assert.equal(suggest("seqlen", ["seqLen", "steps"]), "seqLen");
  assert.equal(suggest("check", ["checkpoint", "mesa"]), "checkpoint");
});

Deno.test("suggest() returns undefined when nothing is close", () => {
  assert.equal(suggest("zzzzzz", ["lr", "steps"]), undefined);
  assert.equal(suggest("x", []), undefined);
});

Deno.test("didYouMean() formats a hint or nothing", () => {
  assert.equal(didYouMean("basline", ["baseline"]), ' Did you mean "baseline"?');
  assert.equal(didYouMean("qqqq", ["baseline"]), "");
});
