/**
 * Introspection of zod config fields: what type a `--key=value` string should become, and the default.
 * @module
 */
import type { z } from "zod";

/** The kinds of config values the command line can parse. */
export type FieldKind = "number" | "integer" | "boolean" | "string" | "enum" | "number[]" | "string[]" | "json";

/** What {@linkcode describeField} found out about a field. */
export interface FieldInfo {
  /** How a command-line string is converted. */
  kind: FieldKind;
  /** Allowed values of an `enum` field, or of each element of a `string[]` field whose elements are an enum. */
  options: string[];
  /** Whether the field has a `.default(...)`. */
  hasDefault: boolean;
  /** The default value (`undefined` when there is none). */
  defaultValue: unknown;
  /** The `.describe()` text, if any. */
  description?: string;
}

interface Def {
  typeName?: string;
  innerType?: z.ZodTypeAny;
  schema?: z.ZodTypeAny;
  type?: z.ZodTypeAny;
  values?: unknown;
  value?: unknown;
  options?: z.ZodTypeAny[];
  checks?: { kind: string }[];
  defaultValue?: () => unknown;
  description?: string;
  in?: z.ZodTypeAny;
}

const def = (t: z.ZodTypeAny): Def => (t as unknown as { _def: Def })._def;

function literalOptions(t: z.ZodTypeAny): string[] | undefined {
  const d = def(t);
  if (d.typeName === "ZodEnum") return (d.values as string[]).map(String);
  if (d.typeName === "ZodLiteral" && typeof d.value === "string") return [d.value];
  if (d.typeName === "ZodNativeEnum") {
    return Object.values(d.values as Record<string, unknown>).filter((v) => typeof v === "string") as string[];
  }
  if (d.typeName === "ZodUnion") {
    const parts = d.options!.map(literalOptions);
    return parts.every((p) => p !== undefined) ? parts.flat() as string[] : undefined;
  }
  return undefined;
}

function kindOf(t: z.ZodTypeAny): FieldKind {
  const d = def(t);
  switch (d.typeName) {
    case "ZodNumber":
      return d.checks?.some((c) => c.kind === "int") ? "integer" : "number";
    case "ZodBoolean":
      return "boolean";
    case "ZodString":
      return "string";
    case "ZodArray": {
      const inner = kindOf(unwrap(d.type!).inner);
      return inner === "number" || inner === "integer"
        ? "number[]"
        : inner === "string" || inner === "enum"
        ? "string[]"
        : "json";
    }
    default:
      return literalOptions(t) ? "enum" : "json";
  }
}

/** Strips default/optional/nullable/effects wrappers, remembering the default and description. */
function unwrap(t: z.ZodTypeAny): { inner: z.ZodTypeAny; hasDefault: boolean; defaultValue: unknown; desc?: string } {
  let hasDefault = false;
  let defaultValue: unknown = undefined;
  let desc: string | undefined = def(t).description;
  for (;;) {
    const d = def(t);
    desc ??= d.description;
    if (d.typeName === "ZodDefault") {
      if (!hasDefault) defaultValue = d.defaultValue!();
      hasDefault = true;
      t = d.innerType!;
    } else if (d.typeName === "ZodOptional" || d.typeName === "ZodNullable" || d.typeName === "ZodBranded") {
      t = d.innerType ?? d.type!;
    } else if (d.typeName === "ZodEffects") {
      t = d.schema!;
    } else if (d.typeName === "ZodPipeline") {
      t = d.in!;
    } else {
      return { inner: t, hasDefault, defaultValue, desc };
    }
  }
}

/**
 * How `--help` writes a field's value: enum values joined with `|`, lists as `<element,...>`.
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { describeField, valueHint } from "./fields.ts";
 * valueHint(describeField(z.array(z.enum(["a", "b"])).default(["a"]))); // "<a|b,...>"
 * valueHint(describeField(z.array(z.number()).default([4]))); // "<number,...>"
 * ```
 */
export function valueHint(info: FieldInfo): string {
  const one = info.options.length ? info.options.join("|") : info.kind.replace("[]", "");
  return info.kind.endsWith("[]") ? `<${one},...>` : `<${info.kind === "enum" ? one : info.kind}>`;
}

/**
 * Describes a zod field for the command line: its kind, enum options, default and description.
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { describeField } from "./fields.ts";
 * describeField(z.number().int().default(4)).kind; // "integer"
 * ```
 */
export function describeField(field: z.ZodTypeAny): FieldInfo {
  const { inner, hasDefault, defaultValue, desc } = unwrap(field);
  const kind = kindOf(inner);
  const element = def(inner).typeName === "ZodArray" ? unwrap(def(inner).type!).inner : undefined;
  return {
    kind,
    options: (element ? literalOptions(element) : literalOptions(inner)) ?? [],
    hasDefault,
    defaultValue,
    description: desc,
  };
}
