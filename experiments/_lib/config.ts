/**
 * Config resolution: schema defaults ← quick preset ← command-line overrides, with readable errors.
 * @module
 */
import type { z } from "zod";
import { ConfigValueError, UnknownConfigKeyError } from "./errors.ts";
import type { Experiment, ExperimentSchema } from "./experiment.ts";
import { describeField, type FieldInfo, valueHint } from "./fields.ts";
import type { Override } from "./cli.ts";
import { didYouMean } from "./suggest.ts";

const TRUE = ["true", "1", "yes", "on"];
const FALSE = ["false", "0", "no", "off"];

const camel = (key: string) => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Converts the text of one override to the field's type; throws {@linkcode ConfigValueError} when it cannot. */
export function parseValue(key: string, raw: string | undefined, field: FieldInfo): unknown {
  if (raw === undefined) {
    if (field.kind === "boolean") return true;
    throw new ConfigValueError(key, `missing value: write --${key}=${valueHint(field)}`);
  }
  const text = raw.trim();
  const bad = (expected: string): never => {
    throw new ConfigValueError(key, `expected ${expected}, got ${JSON.stringify(raw)}`);
  };
  switch (field.kind) {
    case "number":
    case "integer": {
      const n = Number(text);
      if (text === "" || Number.isNaN(n)) return bad(field.kind === "integer" ? "integer" : "number");
      // "Infinity", "1e309": never a usable setting, so refused here rather than run.
      return Number.isFinite(n) ? n : bad("a finite number");
    }
    case "boolean":
      if (TRUE.includes(text.toLowerCase())) return true;
      if (FALSE.includes(text.toLowerCase())) return false;
      return bad("boolean (true or false)");
    case "number[]": {
      if (text === "") return bad("a comma-separated list of at least one number");
      const parts = text.split(",").map((s) => s.trim());
      const nums = parts.map(Number);
      if (parts.some((s, i) => s === "" || Number.isNaN(nums[i]))) return bad("comma-separated numbers");
      return nums.every(Number.isFinite) ? nums : bad("comma-separated finite numbers");
    }
    case "string[]": {
      const items = text.split(",").map((s) => s.trim());
      if (items.some((s) => s === "")) {
        return bad(
          `a comma-separated list of at least one value${
            field.options.length ? ` (${field.options.map((o) => JSON.stringify(o)).join(", ")})` : ""
          }`,
        );
      }
      return items;
    }
    case "json":
      try {
        return JSON.parse(text);
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

function formatIssue(issue: z.ZodIssue, shown: string, field: FieldInfo | undefined): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}, got ${shown}`;
    case "invalid_enum_value":
    case "invalid_literal":
    case "invalid_union": {
      const options = field?.options ?? [];
      const value = issue.code === "invalid_enum_value" ? String(issue.received) : shown.replace(/^"|"$/g, "");
      // In a list, name the element that is wrong (its position counts from 1).
      const element = typeof issue.path[1] === "number" ? ` (item ${issue.path[1] + 1} of the list)` : "";
      const got = element ? JSON.stringify(value) + element : shown;
      return `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}, got ${got}.` +
        didYouMean(value, options).trimEnd();
    }
    default:
      return `${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}, got ${shown}`;
  }
}

/**
 * Resolves an experiment's config: schema defaults, then the quick preset (if `quick`), then `overrides` in order.
 * An override may name a key by one of the experiment's `aliases`.
 *
 * @example Usage
 * ```ts
 * import { z } from "zod";
 * import { resolveConfig } from "./config.ts";
 * import { defineExperiment } from "./experiment.ts";
 * const e = defineExperiment({
 *   name: "x", description: "", quick: { steps: 2 },
 *   schema: z.object({ lr: z.number().default(0.1), steps: z.number().int().default(100) }),
 *   run: () => Promise.resolve([]),
 * });
 * resolveConfig(e, [{ key: "lr", value: "0.5" }], true); // { lr: 0.5, steps: 2 }
 * ```
 * @throws {UnknownConfigKeyError} for a key the schema does not have (with a did-you-mean hint).
 * @throws {ConfigValueError} for a value of the wrong type or out of range.
 */
export function resolveConfig<S extends ExperimentSchema>(
  experiment: Experiment<S>,
  overrides: Override[],
  quick: boolean,
): z.infer<S> {
  const shape = experiment.schema.shape as Record<string, z.ZodTypeAny>;
  const keys = Object.keys(shape);
  const merged: Record<string, unknown> = quick ? { ...experiment.quick } : {};
  const shownCli = new Map<string, string>();
  for (const { key: written, value } of overrides) {
    const aliases = experiment.aliases ?? {};
    const has = (k: string) => Object.hasOwn(shape, k); // not `in`: "constructor" is not a config key
    const key = has(written)
      ? written
      : has(camel(written))
      ? camel(written)
      : Object.hasOwn(aliases, written)
      ? aliases[written]
      : Object.hasOwn(aliases, camel(written))
      ? aliases[camel(written)]
      : camel(written);
    if (!has(key)) {
      const hint = didYouMean(written, keys) || ` Config keys: ${keys.join(", ") || "(none)"}`;
      throw new UnknownConfigKeyError(written, experiment.name, hint);
    }
    merged[key] = parseValue(key, value, describeField(shape[key]));
    shownCli.set(key, JSON.stringify(value ?? "true"));
  }
  const result = experiment.schema.strict().safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue.path[0] ?? "(config)");
  const shown = shownCli.get(key) ??
    `${JSON.stringify(merged[key])} (from the ${quick ? "quick preset" : "defaults"})`;
  if (issue.code === "unrecognized_keys") {
    throw new UnknownConfigKeyError(issue.keys[0], experiment.name, " (it comes from the quick preset)");
  }
  throw new ConfigValueError(
    key,
    formatIssue(issue, shown, Object.hasOwn(shape, key) ? describeField(shape[key]) : undefined),
  );
}
