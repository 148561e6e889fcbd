import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { edgeViolation, findCycles, importsOf, lintDeps } from "../../tools/lint_deps.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

Deno.test("lint:deps: the repository follows its layering (no technique imports another, no upward import, no cycle)", () => {
  assert.deepEqual(lintDeps(ROOT), []);
});

Deno.test("lint:deps: a technique importing another, an upward import and a cycle are each reported", () => {
  assert.match(edgeViolation("lib/mesa/policy.ts", "lib/checkpoint/plan.ts")!, /technique lib\/mesa imports technique/);
  assert.match(edgeViolation("lib/checkpoint/plan.ts", "lib/train/backprop.ts")!, /imports the higher lib\/train/);
  assert.match(edgeViolation("lib/memory/meter.ts", "lib/nn/layer.ts")!, /imports the higher lib\/nn/);
  assert.match(edgeViolation("lib/optim/adam.ts", "lib/models/gpt.ts")!, /same layer/);
  assert.match(edgeViolation("lib/newthing/a.ts", "lib/nn/layer.ts")!, /not in the layer table/);
  assert.equal(edgeViolation("lib/mesa/policy.ts", "lib/nn/policy.ts"), undefined);
  assert.equal(edgeViolation("lib/train/backprop.ts", "lib/nn/context.ts"), undefined);
  const cycles = findCycles(new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", []]]));
  assert.deepEqual(cycles, [["a.ts", "b.ts", "c.ts", "a.ts"]]);
});

Deno.test("lint:deps: imports in comments and JSDoc examples are not dependencies", () => {
  const src = [
    "/**",
    ' * import { x } from "../train/mod.ts";',
    " */",
    '// import { y } from "../mesa/mod.ts";',
    'import type { Layer } from "../nn/layer.ts";',
    'export { z } from "./z.ts";',
    'import * as tf from "@tensorflow/tfjs";',
  ].join("\n");
  assert.deepEqual(importsOf(src), ["../nn/layer.ts", "./z.ts"]);
});
