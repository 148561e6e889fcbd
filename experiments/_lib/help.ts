/**
 * Help text: the experiment list and one experiment's config keys.
 * @module
 */
import type { z } from "zod";
import type { AnyExperiment, Registry } from "./experiment.ts";
import { describeField, valueHint } from "./fields.ts";

/**
 * One line per registered experiment: name and description.
 *
 * @example Usage
 * ```ts
 * import { listExperiments } from "./help.ts";
 * listExperiments({}); // "No experiments registered (see experiments/registry.ts)."
 * ```
 */
export function listExperiments(registry: Registry): string {
  const names = Object.keys(registry).sort();
  if (names.length === 0) return "No experiments registered (see experiments/registry.ts).";
  const width = Math.max(...names.map((n) => n.length));
  return ["Experiments:", ...names.map((n) => `  ${n.padEnd(width)}  ${registry[n].description}`)].join("\n");
}

/** The config keys of one experiment with kind, default, quick value, description and aliases. */
export function describeExperiment(e: AnyExperiment): string {
  const lines = [`${e.name}: ${e.description}`, "", "Config keys (--key=value):"];
  const shape = e.schema.shape as Record<string, z.ZodTypeAny>;
  const quick = e.quick as Record<string, unknown>;
  const aliases = Object.entries(e.aliases ?? {});
  const entries = Object.entries(shape).map(([key, field]) => {
    const info = describeField(field);
    const q = key in quick ? `, quick ${JSON.stringify(quick[key])}` : "";
    const also = aliases.filter(([, k]) => k === key).map(([a]) => `--${a}`);
    const desc = [info.description ?? "", also.length ? `(also ${also.join(", ")})` : ""].filter((s) => s).join(" ");
    return [`--${key}=${valueHint(info)}`, `default ${JSON.stringify(info.defaultValue)}${q}`, desc];
  });
  const w0 = Math.max(0, ...entries.map((e) => e[0].length));
  const w1 = Math.max(0, ...entries.map((e) => e[1].length));
  for (const [flag, dflt, desc] of entries) lines.push(`  ${flag.padEnd(w0)}  ${dflt.padEnd(w1)}  ${desc}`.trimEnd());
  if (Object.keys(shape).length === 0) lines.push("  (none)");
  return lines.join("\n");
}
