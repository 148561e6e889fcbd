/**
 * Which parameters MeZO perturbs and updates: all of them, the head, the last k blocks, name patterns, a RegExp, a
 * predicate, or a union of these.
 * @module
 */

/**
 * A selection of parameters by name:
 * - `"all"`: every parameter;
 * - `"head"`: the output head (`head.*`);
 * - `{ lastBlocks: k }`: the parameters of the last k Transformer blocks (`blocks.<i>.*` with the k highest i);
 * - a string pattern: names equal to it or starting with it plus `.` (`"blocks.3"`, `"head.out"`); `*` stands for one
 *   name segment (`"blocks.*.attn"`);
 * - a RegExp tested on the name, or a predicate;
 * - an array: the union of its entries.
 */
export type ParamSelection =
  | "all"
  | "head"
  | { readonly lastBlocks: number }
  | string
  | RegExp
  | ((name: string) => boolean)
  | readonly ParamSelection[];

function describe(sel: ParamSelection): string {
  if (typeof sel === "function") return "a predicate";
  if (sel instanceof RegExp) return String(sel);
  return JSON.stringify(sel);
}

function globPrefix(pattern: string): RegExp {
  const body = pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^.]+");
  return new RegExp(`^${body}(\\.|$)`);
}

function blockIndex(name: string): number | undefined {
  const m = /^blocks\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}

function matcher(sel: ParamSelection, names: readonly string[]): (name: string) => boolean {
  if (typeof sel === "function") return sel;
  if (sel instanceof RegExp) return (n) => sel.test(n);
  if (Array.isArray(sel)) {
    const parts = sel.map((s) => matcher(s, names));
    return (n) => parts.some((p) => p(n));
  }
  if (sel === "all") return () => true;
  if (sel === "head") return (n) => n.startsWith("head.");
  if (typeof sel === "string") {
    if (sel === "") throw new TypeError('Cannot select parameters: a pattern must not be empty: current value is ""');
    const re = globPrefix(sel);
    return (n) => re.test(n);
  }
  if (sel !== null && typeof sel === "object" && "lastBlocks" in sel) {
    const k = (sel as { lastBlocks: number }).lastBlocks;
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(`Cannot select parameters: 'lastBlocks' must be a positive integer: current value is ${k}`);
    }
    const depth = Math.max(-1, ...names.map((n) => blockIndex(n) ?? -1)) + 1;
    return (n) => {
      const i = blockIndex(n);
      return i !== undefined && i >= depth - k;
    };
  }
  throw new TypeError(`Cannot select parameters: unknown selection: current value is ${describe(sel)}`);
}

/**
 * The names (in the given order) that `selection` picks from `names`.
 *
 * @example Usage
 * ```ts
 * import { selectParams } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const names = ["embed.wte", "blocks.0.ln1.g", "blocks.1.mlp.fc1.w", "head.out.w"];
 * assert.deepEqual(selectParams(names, [{ lastBlocks: 1 }, "head"]), ["blocks.1.mlp.fc1.w", "head.out.w"]);
 * assert.deepEqual(selectParams(names, "blocks.*.mlp"), ["blocks.1.mlp.fc1.w"]);
 * assert.throws(() => selectParams(names, "blocks.9"), RangeError);
 * ```
 * @throws {RangeError} when the selection picks no name (the message shows it), or `lastBlocks` is not a positive
 * integer; {TypeError} for a malformed selection.
 */
export function selectParams(names: readonly string[], selection: ParamSelection): string[] {
  const pick = matcher(selection, names);
  const out = names.filter((n) => pick(n));
  if (out.length === 0) {
    throw new RangeError(
      `Cannot select parameters: the selection picks none of the ${names.length} trainable parameters ` +
        `(${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""}): current value is ${describe(selection)}`,
    );
  }
  return out;
}
