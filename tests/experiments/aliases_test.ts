import assert from "node:assert/strict";
import { z } from "zod";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { UnknownConfigKeyError } from "../../experiments/_lib/errors.ts";
import { defineExperiment } from "../../experiments/_lib/experiment.ts";
import { describeExperiment } from "../../experiments/_lib/help.ts";

const run = () => Promise.resolve([]);
const schema = z.object({
  mesaEmaDecay: z.number().min(0).lt(1).default(0.9).describe("EMA decay"),
  steps: z.number().int().default(10),
});
const aliased = defineExperiment({
  name: "aliased",
  description: "",
  schema,
  quick: {},
  aliases: { emaDecay: "mesaEmaDecay" },
  run,
});

Deno.test("resolveConfig() accepts an alias (also in kebab-case) for the key it names", () => {
  assert.deepEqual(resolveConfig(aliased, [{ key: "emaDecay", value: "0" }], false), { mesaEmaDecay: 0, steps: 10 });
  assert.equal(resolveConfig(aliased, [{ key: "ema-decay", value: "0.5" }], false).mesaEmaDecay, 0.5);
  assert.equal(resolveConfig(aliased, [{ key: "mesaEmaDecay", value: "0.25" }], false).mesaEmaDecay, 0.25);
  assert.throws(
    () => resolveConfig(aliased, [{ key: "emaDecay", value: "2" }], false),
    /bad value for "mesaEmaDecay": .*"2"/,
  );
  assert.throws(() => resolveConfig(aliased, [{ key: "emaDecayy", value: "0" }], false), UnknownConfigKeyError);
});

Deno.test("describeExperiment() lists an alias beside its key", () => {
  const line = describeExperiment(aliased).split("\n").find((l) => l.includes("--mesaEmaDecay="));
  assert.ok(line, describeExperiment(aliased));
  assert.match(line, /EMA decay \(also --emaDecay\)$/);
});

Deno.test("defineExperiment() rejects aliases to missing keys, aliases that are keys and reserved names", () => {
  const define = (aliases: Record<string, string>) =>
    defineExperiment({ name: "x", description: "", schema, quick: {}, aliases, run });
  assert.throws(() => define({ ema: "emaDecay" }), /alias "ema" names the config key "emaDecay", which the schema/);
  assert.throws(() => define({ steps: "mesaEmaDecay" }), /alias "steps" is itself a config key/);
  assert.throws(() => define({ out: "mesaEmaDecay" }), /alias "out" is itself a config key or a reserved option/);
});
