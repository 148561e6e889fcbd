import assert from "node:assert/strict";
import { z } from "zod";
import { defineExperiment } from "../../experiments/_lib/experiment.ts";

const run = () => Promise.resolve([]);

Deno.test("defineExperiment() returns a valid definition unchanged", () => {
  const e = { name: "ok", description: "", schema: z.object({ a: z.number().default(1) }), quick: { a: 2 }, run };
  assert.equal(defineExperiment(e), e);
});

Deno.test("defineExperiment() rejects keys without defaults", () => {
  assert.throws(
    () => defineExperiment({ name: "x", description: "", schema: z.object({ a: z.number() }), quick: {}, run }),
    (e: Error) => e instanceof TypeError && /config key "a" has no default/.test(e.message),
  );
});

Deno.test("defineExperiment() rejects reserved keys, bad names and invalid quick presets", () => {
  const schema = z.object({ out: z.string().default("x") });
  assert.throws(() => defineExperiment({ name: "x", description: "", schema, quick: {}, run }), /reserved/);
  const ok = z.object({ a: z.number().default(1) });
  assert.throws(() => defineExperiment({ name: "", description: "", schema: ok, quick: {}, run }), /'name'/);
  assert.throws(
    () => defineExperiment({ name: "x", description: "", schema: ok, quick: { a: "2" as unknown as number }, run }),
    /'quick' preset is invalid at "a"/,
  );
  assert.throws(
    () => defineExperiment({ name: "x", description: "", schema: ok, quick: { b: 1 } as { a?: number }, run }),
    /'quick' preset is invalid/,
  );
});
