/**
 * Options of a table entry (a technique, an optimizer) as experiment config keys `<prefix><Option>` (`mesaEmaDecay`,
 * `adamwB2`), and reading them back out of a resolved config.
 * @module
 */
import type { z } from "zod";

/** The object shape of a zod object schema. */
// deno-lint-ignore no-explicit-any
export type ShapeOf<O> = O extends z.ZodObject<infer S, any, any> ? S : never;

/** `S`'s keys renamed to `<P><Key>`: the config fields of an entry named `P` with option shape `S`. */
export type PrefixedShape<P extends string, S> = { [K in keyof S & string as `${P}${Capitalize<K>}`]: S[K] };

/** The intersection of the members of a union (to merge the fields of several entries into one shape). */
export type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I
  : never;

/**
 * The config key of option `option` of the entry `prefix`: `prefix` then the option with its first letter upper-cased.
 *
 * @example Usage
 * ```ts
 * import { prefixedKey } from "./prefixed.ts";
 * prefixedKey("mesa", "emaDecay"); // "mesaEmaDecay"
 * ```
 */
export function prefixedKey(prefix: string, option: string): string {
  return prefix + option.charAt(0).toUpperCase() + option.slice(1);
}

/**
 * The fields of `schema` renamed with {@linkcode prefixedKey}, each description prefixed by `label: ` unless it
 * already starts with the label (case-insensitive).
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { prefixedFields } from "./prefixed.ts";
 * const f = prefixedFields("sgd", z.object({ momentum: z.number().default(0).describe("momentum") }), "sgd");
 * f.sgdMomentum.description; // "sgd: momentum"
 * ```
 */
export function prefixedFields<P extends string, S extends z.ZodRawShape>(
  prefix: P,
  // deno-lint-ignore no-explicit-any
  schema: z.ZodObject<S, any, any>,
  label: string,
): PrefixedShape<P, S> {
  const out: Record<string, z.ZodTypeAny> = {};
  for (const [option, field] of Object.entries(schema.shape as Record<string, z.ZodTypeAny>)) {
    const text = field.description ?? option;
    out[prefixedKey(prefix, option)] = field.describe(
      text.toLowerCase().startsWith(label.toLowerCase()) ? text : `${label}: ${text}`,
    );
  }
  return out as PrefixedShape<P, S>;
}

/**
 * The options of `schema` read from `config`'s `<prefix><Option>` keys and parsed (defaults fill missing keys).
 *
 * @param what Names the entry in errors, e.g. `technique "mesa"`.
 * @throws {RangeError} when a value does not parse, naming the config key and its value.
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { readPrefixed } from "./prefixed.ts";
 * const schema = z.object({ momentum: z.number().min(0).default(0) });
 * readPrefixed("sgd", schema, { sgdMomentum: 0.9, lr: 1 }, "optimizer \"sgd\""); // { momentum: 0.9 }
 * ```
 */
export function readPrefixed(
  prefix: string,
  // deno-lint-ignore no-explicit-any
  schema: z.ZodObject<z.ZodRawShape, any, any>,
  config: Readonly<Record<string, unknown>>,
  what: string,
): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const option of Object.keys(schema.shape)) {
    const key = prefixedKey(prefix, option);
    if (config[key] !== undefined) picked[option] = config[key];
  }
  const parsed = schema.safeParse(picked);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = prefixedKey(prefix, String(issue.path[0] ?? ""));
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
  throw new RangeError(`Cannot build ${what}: '${key}': ${message}: current value is ${JSON.stringify(config[key])}`);
}
