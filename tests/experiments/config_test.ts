import assert from "node:assert/strict";
import { z } from "zod";
import { parseValue, resolveConfig } from "../../experiments/_lib/config.ts";
import { ConfigValueError, UnknownConfigKeyError } from "../../experiments/_lib/errors.ts";
import { defineExperiment, type ExperimentSchema } from "../../experiments/_lib/experiment.ts";
import { describeField } from "../../experiments/_lib/fields.ts";
import { describeExperiment } from "../../experiments/_lib/help.ts";
import { echo } from "./_fixtures.ts";

/** A toy experiment with the given schema. */
function withSchema<S extends ExperimentSchema>(schema: S) {
  return defineExperiment({ name: "t", description: "", schema, quick: {}, run: () => Promise.resolve([]) });
}

const DEFAULTS = { lr: 0.1, steps: 100, verbose: false, optimizer: "adam", tag: "x", dims: [8, 16], seqLen: 32 };

Deno.test("resolveConfig() returns the schema defaults", () => {
  assert.deepEqual(resolveConfig(echo, [], false), DEFAULTS);
});

Deno.test("resolveConfig() applies defaults <- quick <- overrides", () => {
  assert.deepEqual(resolveConfig(echo, [], true), { ...DEFAULTS, steps: 2, lr: 0.5 });
  assert.deepEqual(resolveConfig(echo, [{ key: "lr", value: "0.01" }], true), { ...DEFAULTS, steps: 2, lr: 0.01 });
  assert.deepEqual(resolveConfig(echo, [{ key: "steps", value: "7" }, { key: "steps", value: "9" }], false), {
    ...DEFAULTS,
    steps: 9,
  });
});

Deno.test("resolveConfig() parses values by field type", () => {
  const c = resolveConfig(echo, [
    { key: "verbose", value: undefined },
    { key: "optimizer", value: "galore" },
    { key: "tag", value: "123" },
    { key: "dims", value: "4, 5,6" },
    { key: "seq-len", value: "64" },
  ], false);
  assert.deepEqual(c, { ...DEFAULTS, verbose: true, optimizer: "galore", tag: "123", dims: [4, 5, 6], seqLen: 64 });
  assert.equal(resolveConfig(echo, [{ key: "verbose", value: "false" }], false).verbose, false);
  assert.equal(resolveConfig(echo, [{ key: "lr", value: "1e-3" }], false).lr, 0.001);
});

Deno.test("resolveConfig() reads every boolean spelling (true/1/yes/on, false/0/no/off, any case)", () => {
  const read = (value: string | undefined) => resolveConfig(echo, [{ key: "verbose", value }], false).verbose;
  for (const v of ["true", "1", "yes", "on", "TRUE", " Yes ", undefined]) assert.equal(read(v), true, String(v));
  for (const v of ["false", "0", "no", "off", "False", " OFF "]) assert.equal(read(v), false, v);
});

Deno.test("resolveConfig() rejects unknown keys with a did-you-mean hint", () => {
  assert.throws(() => resolveConfig(echo, [{ key: "lrr", value: "1" }], false), (e: Error) => {
    assert.ok(e instanceof UnknownConfigKeyError);
    assert.equal(e.message, 'unknown config key "lrr" for experiment "echo". Did you mean "lr"?');
    return true;
  });
  assert.throws(
    () => resolveConfig(echo, [{ key: "qqqqqqq", value: "1" }], false),
    /unknown config key "qqqqqqq" for experiment "echo". Config keys: lr, steps, verbose/,
  );
  for (const key of ["constructor", "__proto__", "toString"]) { // names on Object.prototype are not config keys
    assert.throws(() => resolveConfig(echo, [{ key, value: "1" }], false), {
      name: "UnknownConfigKeyError",
      message: new RegExp(`^unknown config key "${key}" for experiment "echo"`),
    });
  }
});

Deno.test("resolveConfig() reports type errors readably", () => {
  const cases: [string, string | undefined, string][] = [
    ["lr", "abc", 'bad value for "lr": expected number, got "abc"'],
    ["lr", "1e309", 'bad value for "lr": expected a finite number, got "1e309"'],
    ["dims", "1,Infinity", 'bad value for "dims": expected comma-separated finite numbers, got "1,Infinity"'],
    ["steps", "1.5", 'bad value for "steps": expected integer, got "1.5"'],
    ["steps", "0", 'bad value for "steps": number must be greater than or equal to 1, got "0"'],
    ["lr", "-1", 'bad value for "lr": number must be greater than 0, got "-1"'],
    ["verbose", "maybe", 'bad value for "verbose": expected boolean (true or false), got "maybe"'],
    ["dims", "1,a", 'bad value for "dims": expected comma-separated numbers, got "1,a"'],
    ["lr", undefined, 'bad value for "lr": missing value: write --lr=<number>'],
    [
      "optimizer",
      "galor",
      'bad value for "optimizer": expected one of "adam", "galore", "sgd", got "galor". Did you mean "galore"?',
    ],
  ];
  for (const [key, value, message] of cases) {
    assert.throws(() => resolveConfig(echo, [{ key, value }], false), (e: Error) => {
      assert.ok(e instanceof ConfigValueError, `${key}=${value}: ${e}`);
      assert.equal(e.message, message);
      return true;
    });
  }
});

Deno.test("parseValue() and describeField() cover every field kind", () => {
  const info = (t: z.ZodTypeAny) => describeField(t);
  assert.equal(info(z.number().default(1)).kind, "number");
  assert.equal(info(z.number().int().default(1)).kind, "integer");
  assert.equal(info(z.boolean().default(false)).kind, "boolean");
  assert.equal(info(z.string().default("")).kind, "string");
  assert.deepEqual(info(z.enum(["a", "b"]).default("a")).options, ["a", "b"]);
  assert.deepEqual(info(z.union([z.literal("a"), z.literal("b")]).default("a")).options, ["a", "b"]);
  assert.equal(info(z.array(z.number().int()).default([])).kind, "number[]");
  assert.equal(info(z.array(z.string()).default([])).kind, "string[]");
  assert.equal(info(z.object({}).default({})).kind, "json");
  assert.equal(info(z.number()).hasDefault, false);
  assert.equal(info(z.number().default(3).describe("d")).description, "d");
  assert.deepEqual(parseValue("t", "a, b", info(z.array(z.string()).default([]))), ["a", "b"]);
  assert.deepEqual(parseValue("o", '{"a":1}', info(z.object({}).default({}))), { a: 1 });
  assert.throws(() => parseValue("d", "", info(z.array(z.number()).default([1]))), ConfigValueError, "empty list");
});

Deno.test("list-valued enum keys: a bad element names the allowed values, its position and a suggestion", () => {
  const e = withSchema(z.object({ variants: z.array(z.enum(["baseline", "mesa-head-wise"])).default([]) }));
  assert.throws(() => resolveConfig(e, [{ key: "variants", value: "baseline,mesa-headwise" }], false), {
    name: "ConfigValueError",
    message: 'bad value for "variants": expected one of "baseline", "mesa-head-wise", got "mesa-headwise" ' +
      '(item 2 of the list). Did you mean "mesa-head-wise"?',
  });
  assert.deepEqual(describeField(e.schema.shape.variants).options, ["baseline", "mesa-head-wise"]);
});

Deno.test("an empty list value is an error, for enum, string and number lists", () => {
  const e = withSchema(z.object({
    variants: z.array(z.enum(["a", "b"])).default(["a"]),
    names: z.array(z.string()).default(["x"]),
    dims: z.array(z.number()).default([1]),
  }));
  const cases: [string, string, string][] = [
    ["variants", "", 'expected a comma-separated list of at least one value ("a", "b"), got ""'],
    ["variants", "a,,b", 'expected a comma-separated list of at least one value ("a", "b"), got "a,,b"'],
    ["names", " ", 'expected a comma-separated list of at least one value, got " "'],
    ["dims", "", 'expected a comma-separated list of at least one number, got ""'],
  ];
  for (const [key, value, detail] of cases) {
    assert.throws(() => resolveConfig(e, [{ key, value }], false), {
      name: "ConfigValueError",
      message: `bad value for "${key}": ${detail}`,
    }, `${key}=${value}`);
  }
});

Deno.test("--help shows the allowed values of list-valued enum keys", () => {
  const e = withSchema(z.object({ variants: z.array(z.enum(["baseline", "mesa-head-wise"])).default([]) }));
  assert.match(describeExperiment(e), /--variants=<baseline\|mesa-head-wise,\.\.\.> +default \[\]/);
  assert.match(describeExperiment(echo), /--dims=<number,\.\.\.> +default \[8,16\]/);
});
