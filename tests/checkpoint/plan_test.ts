import assert from "node:assert/strict";
import {
  checkpoint,
  type CheckpointPlan,
  CheckpointSegment,
  planSegments,
  trunkParamSpecs,
} from "../../lib/checkpoint/mod.ts";
import { createGpt, createVit, GPT_PRESETS, VIT_PRESETS } from "../../lib/models/mod.ts";
import { prefixed } from "../../lib/nn/layer.ts";
import { disposeAll } from "./_util.ts";

Deno.test("planSegments() sizes for every plan kind", () => {
  assert.deepEqual(planSegments(8, "sqrt"), [3, 3, 2]);
  assert.deepEqual(planSegments(9, "sqrt"), [3, 3, 3]);
  assert.deepEqual(planSegments(10, "sqrt"), [3, 3, 2, 2]);
  assert.deepEqual(planSegments(1, "sqrt"), [1]);
  assert.deepEqual(planSegments(3, "every"), [1, 1, 1]);
  assert.deepEqual(planSegments(7, { every: 3 }), [3, 3, 1]);
  assert.deepEqual(planSegments(2, { every: 5 }), [2]);
  assert.deepEqual(planSegments(3, { segments: [1, 2] }), [1, 2]);
  assert.deepEqual(planSegments(5, "none"), []);
  assert.deepEqual(planSegments(0, "sqrt"), []);
  for (let n = 1; n <= 100; n++) {
    const s = planSegments(n, "sqrt");
    assert.equal(s.length, Math.ceil(Math.sqrt(n)), `n=${n}`);
    assert.equal(s.reduce((a, b) => a + b, 0), n);
    assert.ok(Math.max(...s) - Math.min(...s) <= 1, `near-equal sizes for n=${n}: ${s}`);
  }
});

Deno.test("bad plans throw a RangeError naming the value", () => {
  const cases: [unknown, RegExp][] = [
    [{ every: 0 }, /'every' must be a positive integer: current value is 0/],
    [{ every: -2 }, /'every' must be a positive integer: current value is -2/],
    [{ every: 1.5 }, /'every' must be a positive integer: current value is 1\.5/],
    [{ segments: [1, 0] }, /'segments\[1\]' must be a positive integer: current value is 0/],
    [{ segments: [2.5] }, /'segments\[0\]' must be a positive integer: current value is 2\.5/],
    [{ segments: "1,2" }, /'segments' must be an array of sizes: current value is "1,2"/],
    [
      "log",
      /plan must be "none", "every", "sqrt", \{ every: k \} or \{ segments: \[sizes\] \}: current value is "log"/,
    ],
    [{ evry: 2 }, /current value is \{"evry":2\}/],
    [null, /current value is null/],
  ];
  for (const [plan, message] of cases) {
    assert.throws(() => checkpoint(plan as CheckpointPlan), { name: "RangeError", message });
    assert.throws(() => planSegments(4, plan as CheckpointPlan), { name: "RangeError", message });
  }
  assert.throws(() => planSegments(3, { segments: [1, 1] }), {
    name: "RangeError",
    message: /'segments' must sum to the block count 3: current value is \[1,1\] \(sum 2\)/,
  });
  assert.throws(() => planSegments(-1, "every"), { name: "RangeError", message: /'n'.*current value is -1/ });
  assert.throws(() => planSegments(2.5, "every"), { name: "RangeError", message: /current value is 2\.5/ });
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 8, layers: 3 });
  const transform = checkpoint({ segments: [2, 2] }); // valid shape, wrong total: detected on the trunk
  assert.throws(() => transform(gpt.layers), {
    name: "RangeError",
    message: /block count 3: current value is \[2,2\]/,
  });
  disposeAll(null, gpt);
});

Deno.test("checkpoint() wraps only the blocks; embed and head stay outside", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 8, layers: 5 });
  const names = (plan: CheckpointPlan) => checkpoint(plan)(gpt.layers).map((l) => l.name);
  assert.deepEqual(names("none"), ["embed", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "head"]);
  assert.deepEqual(names("sqrt"), [
    "embed",
    "checkpoint[blocks.0..blocks.1]",
    "checkpoint[blocks.2..blocks.3]",
    "checkpoint[blocks.4]",
    "head",
  ]);
  assert.deepEqual(names({ segments: [3, 2] }), [
    "embed",
    "checkpoint[blocks.0..blocks.2]",
    "checkpoint[blocks.3..blocks.4]",
    "head",
  ]);
  assert.deepEqual(names({ every: 2 }), [
    "embed",
    "checkpoint[blocks.0..blocks.1]",
    "checkpoint[blocks.2..blocks.3]",
    "checkpoint[blocks.4]",
    "head",
  ]);
  const every = checkpoint("every")(gpt.layers);
  assert.equal(every.length, 7);
  assert.ok(every.slice(1, 6).every((l) => l instanceof CheckpointSegment && l.layers.length === 1));
  assert.equal(every[1].outputShape([2, 4, 64]).join(), "2,4,64");
  // The same parameter paths as the plain trunk.
  const plain = gpt.layers.flatMap((l) => prefixed(l.name, l.paramSpecs()));
  assert.deepEqual(trunkParamSpecs(checkpoint("sqrt")(gpt.layers)), plain);
  disposeAll(null, gpt);
});

Deno.test("checkpoint({ include }) picks other layers and rejects non-consecutive picks", () => {
  const vit = createVit({ ...VIT_PRESETS.tiny, layers: 4 });
  const withHead = checkpoint({ plan: { every: 5 }, include: (l) => l.name !== "embed" })(vit.layers);
  assert.deepEqual(withHead.map((l) => l.name), ["embed", "checkpoint[blocks.0..head]"]);
  assert.throws(() => checkpoint({ plan: "every", include: (l) => l.name !== "blocks.2" })(vit.layers), {
    name: "RangeError",
    message: /must be consecutive: "blocks.2" is not included/,
  });
  assert.deepEqual(
    checkpoint({ plan: "sqrt", include: () => false })(vit.layers).map((l) => l.name),
    vit.layers.map((l) => l.name),
  );
  assert.throws(() => checkpoint({ plan: "sqrt", include: 3 as never }), { name: "TypeError", message: /'include'/ });
  disposeAll(null, vit);
});

Deno.test("CheckpointSegment rejects empty and duplicate layer lists", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 8, layers: 1 });
  assert.throws(() => new CheckpointSegment([]), { name: "RangeError", message: /must not be empty/ });
  assert.throws(() => new CheckpointSegment([gpt.layers[1], gpt.layers[1]]), {
    name: "RangeError",
    message: /duplicate layer name "blocks.0"/,
  });
  disposeAll(null, gpt);
});
