/**
 * Byte-pair-encoded (BPE) token streams: a real tokenizer (the OpenAI encodings shipped inside the npm package
 * `gpt-tokenizer`) over a real corpus, for language models whose vocabulary is large enough that the logits matter.
 *
 * A corpus keeps either the encoding's full id space (`vocab: "full"`, 50k-200k ids) or, by default, only the ids the
 * text uses (`vocab: "corpus"`), renumbered `0..n-1` in the encoding's id order: Moby Dick under `r50k_base` (GPT-2's
 * encoding) is 292k tokens over 15,729 distinct ids. `maxVocab` keeps the most frequent ids and maps the rest to one
 * unknown id.
 * @module
 */
import { type CharCorpusName, loadCorpusText } from "./char_corpus.ts";
import { DatasetNotFoundError } from "./errors.ts";

/** The encodings of `gpt-tokenizer` memtrain can load. */
export type BpeEncodingName = "r50k_base" | "p50k_base" | "cl100k_base" | "o200k_base";

/** The encoding names {@linkcode loadBpeTokenizer} accepts. */
export const BPE_ENCODINGS: readonly BpeEncodingName[] = Object.freeze([
  "r50k_base",
  "p50k_base",
  "cl100k_base",
  "o200k_base",
]);

/** A BPE tokenizer: text to token ids of its encoding and back. */
export interface BpeTokenizer {
  /** The encoding's name. */
  readonly name: string;
  /** Number of ids of the encoding (`encode` returns ids below it). */
  readonly vocabularySize: number;
  /** Text to ids (special-token text is encoded as ordinary text). */
  encode(text: string): number[];
  /** Ids to text. */
  decode(ids: number[]): string;
}

/**
 * Loads one of `gpt-tokenizer`'s encodings (their merge tables ship inside the npm package: nothing is downloaded).
 *
 * @example Usage
 * ```ts
 * import { loadBpeTokenizer } from "./bpe_corpus.ts";
 * import assert from "node:assert/strict";
 *
 * const tok = await loadBpeTokenizer("r50k_base");
 * assert.equal(tok.decode(tok.encode("Call me Ishmael.")), "Call me Ishmael.");
 * ```
 * @throws {RangeError} for an unknown encoding name.
 * @throws {DatasetNotFoundError} when the npm package is not installed.
 */
export async function loadBpeTokenizer(name: BpeEncodingName): Promise<BpeTokenizer> {
  if (!BPE_ENCODINGS.includes(name)) {
    throw new RangeError(
      `Cannot load BPE tokenizer: 'name' must be one of ${BPE_ENCODINGS.join(", ")}: current value is ${name}`,
    );
  }
  let mod: { encode(s: string, o?: unknown): number[]; decode(ids: Iterable<number>): string; vocabularySize: number };
  try {
    mod = name === "r50k_base"
      ? await import("gpt-tokenizer/encoding/r50k_base")
      : name === "p50k_base"
      ? await import("gpt-tokenizer/encoding/p50k_base")
      : name === "cl100k_base"
      ? await import("gpt-tokenizer/encoding/cl100k_base")
      : await import("gpt-tokenizer/encoding/o200k_base");
  } catch (cause) {
    throw new DatasetNotFoundError(`the ${name} BPE encoding`, `the npm package "gpt-tokenizer"`, {
      install:
        `it is an npm dependency in deno.json resolved by Deno: run \`deno install\` (network access needed once)`,
      cause,
    });
  }
  return {
    name,
    vocabularySize: mod.vocabularySize,
    // Special tokens are ordinary text here: a corpus may contain "<|endoftext|>" literally.
    encode: (text) => mod.encode(text, { disallowedSpecial: new Set(), allowedSpecial: new Set() }),
    decode: (ids) => mod.decode(ids),
  };
}

/** A BPE token stream with its (possibly compacted) vocabulary and a contiguous train/validation split. */
export interface BpeCorpus {
  /** Corpus name. */
  readonly name: string;
  /** The encoding's name. */
  readonly encoding: string;
  /** Token ids of the model's vocabulary: `0..vocabSize-1`. */
  readonly vocabSize: number;
  /** For each model id, the encoding's id (`-1` for the unknown id). */
  readonly bpeIds: Int32Array;
  /** The model id standing for every encoding id outside the vocabulary, or null when there is none. */
  readonly unknownId: number | null;
  /** Training tokens: the first `1 - valFraction` of the stream. */
  readonly train: Int32Array;
  /** Validation tokens: the last `valFraction` of the stream. */
  readonly val: Int32Array;
  /** Text to model ids (encoding ids outside the vocabulary become the unknown id, or throw a RangeError). */
  encode(text: string): Int32Array;
  /** Model ids to text (the unknown id decodes to U+FFFD). */
  decode(ids: ArrayLike<number>): string;
}

/** Options for {@linkcode bpeCorpusFromText}. */
export interface BpeCorpusFromTextOptions {
  /** Name stored on the corpus. @default {"text"} */
  name?: string;
  /** Fraction of the tokens held out, from the end, for validation; in [0, 1). @default {0.1} */
  valFraction?: number;
  /** Use only the first `maxTokens` tokens (the vocabulary still covers the whole text). @default {undefined} */
  maxTokens?: number;
  /** `"corpus"`: only the ids the text uses, renumbered; `"full"`: the encoding's whole id space. @default {"corpus"} */
  vocab?: "corpus" | "full";
  /**
   * With `vocab: "corpus"`, keep the `maxVocab − 1` most frequent ids (ties: lower encoding id first) and map the rest
   * to one unknown id (the last). @default {undefined: every id the text uses}
   */
  maxVocab?: number;
}

function checkInt(what: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) {
    throw new RangeError(`Cannot build BPE corpus: '${what}' must be an integer >= ${min}: current value is ${v}`);
  }
}

/**
 * Tokenizes `text` with `tokenizer` into a corpus.
 *
 * @example Usage
 * ```ts
 * import { bpeCorpusFromText, loadBpeTokenizer } from "./bpe_corpus.ts";
 * import assert from "node:assert/strict";
 *
 * const c = bpeCorpusFromText("the cat and the hat and the bat", await loadBpeTokenizer("r50k_base"));
 * assert.ok(c.vocabSize < 10); // only the ids this text uses
 * assert.equal(c.decode(c.encode("the hat")), "the hat");
 * ```
 * @throws {RangeError} for an invalid option.
 */
export function bpeCorpusFromText(
  text: string,
  tokenizer: BpeTokenizer,
  options: BpeCorpusFromTextOptions = {},
): BpeCorpus {
  const { name = "text", valFraction = 0.1, maxTokens, vocab = "corpus", maxVocab } = options;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`Cannot build BPE corpus: 'valFraction' must be in [0, 1): current value is ${valFraction}`);
  }
  checkInt("maxTokens", maxTokens, 1);
  checkInt("maxVocab", maxVocab, 2);
  if (vocab !== "corpus" && vocab !== "full") {
    throw new RangeError(`Cannot build BPE corpus: 'vocab' must be "corpus" or "full": current value is ${vocab}`);
  }
  if (vocab === "full" && maxVocab !== undefined) {
    throw new RangeError(`Cannot build BPE corpus: 'maxVocab' needs vocab "corpus": current vocab is "full"`);
  }
  const raw = tokenizer.encode(text);
  let bpeIds: Int32Array, unknownId: number | null = null;
  if (vocab === "full") {
    bpeIds = Int32Array.from({ length: tokenizer.vocabularySize }, (_, i) => i);
  } else {
    const counts = new Map<number, number>();
    for (const id of raw) counts.set(id, (counts.get(id) ?? 0) + 1);
    let kept = [...counts.keys()];
    if (maxVocab !== undefined && kept.length > maxVocab) {
      kept = kept.sort((a, b) => counts.get(b)! - counts.get(a)! || a - b).slice(0, maxVocab - 1);
      unknownId = maxVocab - 1;
    }
    kept.sort((a, b) => a - b);
    bpeIds = Int32Array.from(unknownId === null ? kept : [...kept, -1]);
  }
  const toModel = new Map<number, number>();
  bpeIds.forEach((id, i) => id >= 0 && toModel.set(id, i));
  const vocabSize = bpeIds.length;
  const encodeIds = (ids: number[]): Int32Array =>
    Int32Array.from(ids, (id) => {
      const m = toModel.get(id) ?? unknownId;
      if (m === null) {
        throw new RangeError(
          `Cannot encode text: BPE id ${id} is not in the corpus vocabulary: current value is ${id}`,
        );
      }
      return m;
    });
  let tokens = encodeIds(raw);
  if (maxTokens !== undefined && tokens.length > maxTokens) tokens = tokens.slice(0, maxTokens);
  const nVal = Math.round(tokens.length * valFraction);
  return {
    name,
    encoding: tokenizer.name,
    vocabSize,
    bpeIds,
    unknownId,
    train: tokens.slice(0, tokens.length - nVal),
    val: tokens.slice(tokens.length - nVal),
    encode: (s) => encodeIds(tokenizer.encode(s)),
    decode: (ids) => {
      let out = "", run: number[] = [];
      const flush = () => {
        if (run.length > 0) out += tokenizer.decode(run);
        run = [];
      };
      for (let i = 0; i < ids.length; i++) {
        const m = ids[i];
        if (!Number.isInteger(m) || m < 0 || m >= vocabSize) {
          throw new RangeError(
            `Cannot decode tokens: ids must be integers in [0, ${vocabSize}): current value is ${m}`,
          );
        }
        if (bpeIds[m] < 0) {
          flush();
          out += "\uFFFD";
        } else run.push(bpeIds[m]);
      }
      flush();
      return out;
    },
  };
}

/** Options for {@linkcode loadBpeCorpus}. */
export interface LoadBpeCorpusOptions extends Omit<BpeCorpusFromTextOptions, "name"> {
  /** The text: `"moby-dick"` (~1.2M characters) or `"first-names"` (as {@linkcode loadCorpusText} gives them). */
  name: CharCorpusName;
  /** The encoding. @default {"r50k_base"} */
  encoding?: BpeEncodingName;
  /** Seed of the first-names shuffle. @default {0} */
  seed?: number;
}

/**
 * Loads a corpus's text and tokenizes it with a `gpt-tokenizer` encoding.
 *
 * @example Usage
 * ```ts ignore
 * const corpus = await loadBpeCorpus({ name: "moby-dick" }); // r50k_base, corpus vocabulary
 * console.log(corpus.vocabSize, corpus.train.length); // 15729 263073
 * ```
 * @throws {DatasetNotFoundError} when the corpus or tokenizer package is not installed.
 * @throws {RangeError} for an invalid option.
 */
export async function loadBpeCorpus(options: LoadBpeCorpusOptions): Promise<BpeCorpus> {
  const { name, encoding = "r50k_base", seed = 0, ...rest } = options;
  if (name !== "moby-dick" && name !== "first-names") {
    throw new RangeError(
      `Cannot load BPE corpus: 'name' must be "moby-dick" or "first-names": current value is ${name}`,
    );
  }
  const tokenizer = await loadBpeTokenizer(encoding);
  return bpeCorpusFromText(await loadCorpusText(name, seed), tokenizer, { ...rest, name });
}
