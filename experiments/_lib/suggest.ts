/**
 * "Did you mean ...?" suggestions for mistyped names (experiments, config keys, enum values).
 * @module
 */

/**
 * Levenshtein edit distance between two strings (insertions, deletions and substitutions each cost 1).
 *
 * @example Usage
 * ```ts
 * import { levenshtein } from "./suggest.ts";
 * levenshtein("basline", "baseline"); // 1
 * ```
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `input` (case-insensitive), or `undefined` when none is plausibly what was meant.
 *
 * A candidate is plausible when its edit distance is at most `max(2, 40% of the input length)`, or when one string
 * starts with the other. Ties go to the candidate listed first.
 *
 * @example Usage
 * ```ts
 * import { suggest } from "./suggest.ts";
 * suggest("lrr", ["lr", "steps", "seed"]); // "lr"
 * suggest("zzzzzz", ["lr", "steps"]); // undefined
 * ```
 */
export function suggest(input: string, candidates: Iterable<string>): string | undefined {
  const needle = input.toLowerCase();
  const limit = Math.max(2, Math.floor(needle.length * 0.4));
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const hay = candidate.toLowerCase();
    let score = levenshtein(needle, hay);
    if (score > limit && needle.length >= 3 && (hay.startsWith(needle) || needle.startsWith(hay))) score = limit;
    if (score <= limit && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/**
 * `' Did you mean "x"?'` for the closest candidate, or `""` when there is none.
 *
 * @example Usage
 * ```ts
 * import { didYouMean } from "./suggest.ts";
 * didYouMean("basline", ["baseline", "mezo"]); // ' Did you mean "baseline"?'
 * ```
 */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const hit = suggest(input, candidates);
  return hit === undefined ? "" : ` Did you mean "${hit}"?`;
}
