/**
 * The one table of techniques the experiments know, and how a row name such as `checkpoint-sqrt+mesa-head-wise`
 * becomes a built combination. Each technique's spec lives in its own folder (`lib/<technique>/cli.ts`); adding a
 * technique adds one entry to {@linkcode TECHNIQUES} (and, for a named combination, one to
 * {@linkcode COMBINATIONS}); its options become config keys through {@linkcode techniqueFields}. The techniques
 * themselves never import each other.
 * @module
 */
import { z } from "zod";
import { checkpointCli } from "../../lib/checkpoint/cli.ts";
import { loraCli } from "../../lib/lora/cli.ts";
import { mesaCli } from "../../lib/mesa/cli.ts";
import { mezoCli } from "../../lib/mezo/cli.ts";
import { streambpCli } from "../../lib/streambp/cli.ts";
import { wtacrsCli } from "../../lib/wtacrs/cli.ts";
import { updateCli } from "../../lib/train/cli.ts";
import { UsageError } from "./errors.ts";
import {
  prefixedFields,
  prefixedKey,
  type PrefixedShape,
  readPrefixed,
  type ShapeOf,
  type UnionToIntersection,
} from "./prefixed.ts";
import { didYouMean } from "./suggest.ts";
import { type BuiltTechnique, composeTechniques, type TechniqueCli, type TechniqueParts } from "./technique_cli.ts";

export type { BuiltTechnique, TechniqueCli, TechniqueParts } from "./technique_cli.ts";

/**
 * Every technique the experiments can build, by name (the key equals the spec's `name`, in camelCase), in the order
 * their rows are listed.
 */
export const TECHNIQUES = {
  checkpoint: checkpointCli,
  mesa: mesaCli,
  streambp: streambpCli,
  wtacrs: wtacrsCli,
  lora: loraCli,
  mezo: mezoCli,
  update: updateCli,
} satisfies Readonly<Record<string, TechniqueCli>>;

/** A key of {@linkcode TECHNIQUES}. */
export type TechniqueKey = keyof typeof TECHNIQUES;

/** Named combinations listed after the single techniques (any `+` combination resolves; these are the listed ones). */
export const COMBINATIONS: readonly string[] = Object.freeze([
  "checkpoint-sqrt+mesa-head-wise",
  "wtacrs+mesa-head-wise",
  "lora+mezo",
]);

/** The row name of plain backprop: no technique. */
export const BASELINE = "baseline";

/** One technique of a row: its spec, the variant key and the data that variant fixes. */
export interface TechniquePart {
  /** The technique's spec. */
  technique: TechniqueCli;
  /** The variant key (`""` for the bare name). */
  variant: string;
  /** What the variant fixes (merged into the options `build` gets). */
  data: Record<string, unknown>;
}

const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const SPECS: readonly [string, TechniqueCli][] = Object.entries(TECHNIQUES);

/** The part name of a technique's variant: `<name>-<variant>`, or `<name>` for the variant `""`. */
function partName(t: TechniqueCli, variant: string): string {
  return variant === "" ? t.name : `${t.name}-${variant}`;
}

/** Part name → technique and variant, checked for clashes when the module loads. */
const PARTS: ReadonlyMap<string, TechniquePart> = (() => {
  const map = new Map<string, TechniquePart>();
  for (const [key, technique] of SPECS) {
    if (camel(technique.name) !== key) {
      throw new TypeError(
        `techniques table: key "${key}" must be the technique's name "${technique.name}" in camelCase`,
      );
    }
    for (const [variant, data] of Object.entries(technique.variants)) {
      const name = partName(technique, variant);
      if (name === BASELINE || name.includes("+") || map.has(name)) {
        throw new TypeError(`techniques table: row name "${name}" of "${technique.name}" is reserved or taken`);
      }
      map.set(name, { technique, variant, data: data as Record<string, unknown> });
    }
  }
  return map;
})();

/**
 * The listed row names: `baseline`, every variant of every technique in table order, then {@linkcode COMBINATIONS}.
 *
 * @example Usage
 * ```ts
 * import { TECHNIQUE_NAMES } from "./techniques.ts";
 * TECHNIQUE_NAMES[0]; // "baseline"
 * ```
 */
export const TECHNIQUE_NAMES: readonly string[] = Object.freeze([BASELINE, ...PARTS.keys(), ...COMBINATIONS]);

/** A technique row name that does not resolve. Lists the known names. */
export class UnknownTechniqueError extends UsageError {
  /** Creates the error for `technique`; `why` says which part failed and how. */
  constructor(readonly technique: string, why: string) {
    super(
      `unknown technique "${technique}": ${why} Known techniques: ${TECHNIQUE_NAMES.join(", ")} ` +
        `(join several with "+", e.g. "${COMBINATIONS[0] ?? "a+b"}")`,
    );
    this.name = "UnknownTechniqueError";
  }
}

/**
 * Splits a row name into its techniques, in row order (`baseline` has none).
 *
 * @throws {UnknownTechniqueError} for an unknown part, `baseline` inside a combination, or a technique named twice.
 *
 * @example Usage
 * ```ts
 * import { parseTechnique } from "./techniques.ts";
 * parseTechnique("checkpoint-sqrt+mesa-head-wise").map((p) => p.technique.name); // ["checkpoint", "mesa"]
 * ```
 */
export function parseTechnique(name: string): TechniquePart[] {
  if (name === BASELINE) return [];
  const parts: TechniquePart[] = [];
  for (const written of name.split("+")) {
    const part = PARTS.get(written);
    if (!part) {
      const why = written === BASELINE
        ? `"baseline" cannot be combined.`
        : `"${written}" is not a technique.${didYouMean(written, [...PARTS.keys(), BASELINE])}`;
      throw new UnknownTechniqueError(name, why);
    }
    if (parts.some((p) => p.technique === part.technique)) {
      throw new UnknownTechniqueError(name, `technique "${part.technique.name}" appears twice.`);
    }
    parts.push(part);
  }
  return parts;
}

/**
 * Whether every technique of the row `name` can train a model of kind `kind` (its spec's `models`, default all).
 *
 * @example Usage
 * ```ts
 * import { techniqueAppliesTo } from "./techniques.ts";
 * techniqueAppliesTo("streambp", "vit"); // false: StreamBP needs a causal language model
 * ```
 * @throws {UnknownTechniqueError} when the name does not resolve.
 */
export function techniqueAppliesTo(name: string, kind: string): boolean {
  return parseTechnique(name).every((p) => !p.technique.models || p.technique.models.includes(kind));
}

/**
 * The config key of a technique's option: `<technique><Option>` in camelCase, e.g. `mesaEmaDecay`.
 *
 * @example Usage
 * ```ts
 * import { mesaCli } from "../../lib/mesa/cli.ts";
 * import { techniqueOptionKey } from "./techniques.ts";
 * techniqueOptionKey(mesaCli, "emaDecay"); // "mesaEmaDecay"
 * ```
 */
export function techniqueOptionKey(technique: TechniqueCli, option: string): string {
  return prefixedKey(camel(technique.name), option);
}

/** The config fields of the options of the techniques `K`. */
export type TechniqueFields<K extends TechniqueKey> = UnionToIntersection<
  K extends TechniqueKey ? PrefixedShape<K, ShapeOf<(typeof TECHNIQUES)[K]["options"]>> : never
>;

/**
 * The config fields (spread into an experiment's schema) of the options of the named techniques (default: all): one
 * key per option ({@linkcode techniqueOptionKey}), with the option's default and its description prefixed by the
 * technique name. {@linkcode buildTechnique} reads them back.
 *
 * @example Usage
 * ```ts
 * import { techniqueFields } from "./techniques.ts";
 * Object.keys(techniqueFields("mesa")); // ["mesaEmaDecay", "mesaOutOfRange", "mesaRounding"]
 * ```
 */
export function techniqueFields<K extends TechniqueKey = TechniqueKey>(...names: K[]): TechniqueFields<K> {
  const keys: readonly string[] = names.length ? names : Object.keys(TECHNIQUES);
  const fields: Record<string, z.ZodTypeAny> = {};
  for (const [key, technique] of SPECS) {
    if (keys.includes(key)) Object.assign(fields, prefixedFields(key, technique.options, technique.name));
  }
  return fields as TechniqueFields<K>;
}

/**
 * Builds the combination a row name stands for: each technique's variant data merged with its options from
 * `config` (keys from {@linkcode techniqueFields}; missing keys take the defaults), composed generically
 * (`composeTechniques`). The caller disposes the result.
 *
 * @param name A row name: `baseline`, a technique variant such as `mesa-head-wise`, or variants joined with `+`.
 * @param config The experiment config (its technique option keys and `seed`, default 0, are read).
 * @throws {UnknownTechniqueError} when the name does not resolve (the message lists the known names).
 * @throws {RangeError} for a bad option value; {TypeError} when two techniques provide the same single seam.
 *
 * @example Usage
 * ```ts
 * import { buildTechnique } from "./techniques.ts";
 * import assert from "node:assert/strict";
 *
 * const t = buildTechnique("checkpoint-sqrt+mesa-head-wise", { mesaEmaDecay: 0, seed: 1 });
 * assert.equal(t.source.name, "backprop");
 * t.dispose();
 * ```
 */
export function buildTechnique(name: string, config: Readonly<Record<string, unknown>> = {}): BuiltTechnique {
  const parts = parseTechnique(name);
  const seed = config.seed ?? 0;
  if (typeof seed !== "number" || !Number.isInteger(seed)) {
    throw new RangeError(`Cannot build technique "${name}": 'seed' must be an integer: current value is ${seed}`);
  }
  const options = parts.map((p) => ({
    ...p.data,
    ...readPrefixed(camel(p.technique.name), p.technique.options, config, `technique "${p.technique.name}"`),
  }));
  const built: TechniqueParts[] = [];
  try {
    parts.forEach((p, i) => built.push(p.technique.build(options[i], { seed })));
  } catch (e) {
    for (const b of built) b.dispose?.();
    throw e;
  }
  return composeTechniques(name, parts.map((p) => p.technique.name), built);
}

/**
 * A config field holding one technique row name: any name {@linkcode parseTechnique} resolves (a listed one or a
 * `+` combination); other names fail config resolution with the list of known names.
 *
 * @example Usage
 * ```ts
 * import { techniqueName } from "./techniques.ts";
 * techniqueName().safeParse("mesa-head-wise+checkpoint-every").success; // true
 * ```
 */
export function techniqueName(): z.ZodEffects<z.ZodString> {
  return z.string().superRefine((name, ctx) => {
    try {
      parseTechnique(name);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: e instanceof Error ? e.message : String(e) });
    }
  });
}
