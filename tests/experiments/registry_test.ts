import assert from "node:assert/strict";
import { experiments } from "../../experiments/registry.ts";

Deno.test("registry: every key equals its experiment's name and the config resolves", () => {
  for (const [key, e] of Object.entries(experiments)) {
    assert.equal(e.name, key, `registry key "${key}" must equal the experiment name "${e.name}"`);
    assert.ok(e.description.length > 0, `${key}: description is empty`);
    const defaults = e.schema.strict().safeParse({});
    assert.ok(defaults.success, `${key}: defaults do not parse`);
    assert.ok(e.schema.strict().safeParse(e.quick).success, `${key}: quick preset does not parse`);
  }
});
