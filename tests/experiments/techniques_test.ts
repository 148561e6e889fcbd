import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { z } from "zod";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { ConfigValueError } from "../../experiments/_lib/errors.ts";
import { describeField } from "../../experiments/_lib/fields.ts";
import { describeExperiment } from "../../experiments/_lib/help.ts";
import { composeTechniques, type TechniqueParts } from "../../experiments/_lib/technique_cli.ts";
import {
  buildTechnique,
  parseTechnique,
  TECHNIQUE_NAMES,
  techniqueOptionKey,
  TECHNIQUES,
  UnknownTechniqueError,
} from "../../experiments/_lib/techniques.ts";
import { memory } from "../../experiments/memory.ts";
import { mesa as mesaExperiment } from "../../experiments/mesa.ts";
import { quickstart } from "../../experiments/quickstart.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { checkpoint, type CheckpointPlan, CheckpointSegment } from "../../lib/checkpoint/mod.ts";
import { type Grouping, mesa, type MesaPolicy } from "../../lib/mesa/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import {
  type ActivationPolicy,
  type GradSource,
  keepAll,
  keepPolicy,
  type Layer,
  type Model,
  type PolicySelector,
  type SavedSpec,
  trunkSavedSpecs,
  type TrunkTransform,
} from "../../lib/nn/mod.ts";
import { identity } from "../../lib/optim/mod.ts";
import { backprop } from "../../lib/train/mod.ts";

/** The technique table and builder as they were before the table moved into the technique folders (the oracle). */
const BEFORE: Record<string, { checkpoint?: CheckpointPlan; mesa?: Grouping }> = {
  baseline: {},
  "checkpoint-every": { checkpoint: "every" },
  "checkpoint-sqrt": { checkpoint: "sqrt" },
  "checkpoint-every2": { checkpoint: { every: 2 } },
  "mesa-per-tensor": { mesa: "per-tensor" },
  "mesa-head-wise": { mesa: "head-wise" },
  "checkpoint-sqrt+mesa-head-wise": { checkpoint: "sqrt", mesa: "head-wise" },
};

function buildBefore(spec: { checkpoint?: CheckpointPlan; mesa?: Grouping }) {
  const m = spec.mesa === undefined
    ? undefined
    : mesa({ grouping: spec.mesa, seed: 0, emaDecay: 0.9, outOfRange: "expand" });
  const selector = m ? m.selector : keepAll;
  const trunk: TrunkTransform = spec.checkpoint ? checkpoint(spec.checkpoint) : (layers) => layers.slice();
  return { source: backprop({ selector, trunk }), selector, trunk, dispose: () => m?.dispose() };
}

await initBackend({ backend: "wasm" });

const B = 2, T = 8, V = 16, LAYERS = 8;
const tinyGpt = () => createGpt({ ...GPT_PRESETS.tiny, vocab: V, context: T, layers: LAYERS }, { seed: 0 });

/** The trunk's layer names, a checkpoint segment written as `name[child,child,...]`. */
function trunkNames(layers: readonly Layer[]): string[] {
  return layers.map((l) => (l instanceof CheckpointSegment ? `${l.name}[${l.layers.map((c) => c.name)}]` : l.name));
}

/** Policy name per saved tag, over the saved tensors of the plain trunk and of the transformed one. */
function policyNames(model: Model, trunk: TrunkTransform, selector: PolicySelector): Record<string, string> {
  const specs: SavedSpec[] = [
    ...trunkSavedSpecs(model.layers, model.loss, [B, T]),
    ...trunkSavedSpecs(trunk(model.layers), model.loss, [B, T]),
  ];
  return Object.fromEntries(
    specs.map((s) => [s.name, selector({ tag: s.name, role: s.role, groupAxis: s.groupAxis }).name]),
  );
}

/** The row names added since (StreamBP's, WTA-CRS's estimators, LoRA and MeZO, the update modes, then the combinations), in table order. */
const ADDED = [
  "streambp",
  "streambp-recompute",
  "wtacrs",
  "wtacrs-crs",
  "wtacrs-topk",
  "lora",
  "lora-all",
  "mezo",
  "mezo-rademacher",
  "update-in-backward",
  "update-whole-set",
];
const ADDED_COMBINATIONS = ["wtacrs+mesa-head-wise", "lora+mezo"];
const EXPECTED_NAMES = [
  ...Object.keys(BEFORE).filter((n) => !n.includes("+")),
  ...ADDED,
  ...Object.keys(BEFORE).filter((n) => n.includes("+")),
  ...ADDED_COMBINATIONS,
];

Deno.test("the table lists today's technique row names, in today's order", () => {
  const expected = EXPECTED_NAMES;
  assert.deepEqual(TECHNIQUE_NAMES, expected);
  assert.deepEqual(memory.schema.parse({}).techniques, expected);
});

Deno.test("every row name resolves to the same trunk layers and policies per saved tag as before", () => {
  const model = tinyGpt();
  const trunks = new Set<string>(), policies = new Set<string>();
  try {
    for (const [name, spec] of Object.entries(BEFORE)) {
      const before = buildBefore(spec), after = buildTechnique(name);
      try {
        const names = trunkNames(after.trunk(model.layers));
        assert.deepEqual(names, trunkNames(before.trunk(model.layers)), `${name}: trunk`);
        const chosen = policyNames(model, after.trunk, after.selector);
        assert.deepEqual(chosen, policyNames(model, before.trunk, before.selector), `${name}: policies`);
        assert.equal(after.source.name, before.source.name);
        trunks.add(JSON.stringify(names));
        policies.add(JSON.stringify(Object.values(policyNames(model, (l) => l.slice(), after.selector))));
      } finally {
        before.dispose();
        after.dispose();
      }
    }
  } finally {
    Object.values(model.params).forEach((p) => p.dispose());
  }
  // The rows really differ: plain, every, sqrt ([3, 3, 2] of 8) and every2 trunks; keep, per-tensor and head-wise.
  assert.equal(trunks.size, 4);
  assert.equal(policies.size, 3);
});

Deno.test("every row name's gradient source gives the same loss, saved bytes and gradients as before, no leak", () => {
  const model = tinyGpt();
  const x = tf.randomUniform([B, T], 0, V, "int32", 1), y = tf.randomUniform([B, T], 0, V, "int32", 2);
  const start = tf.memory().numTensors;
  try {
    for (const [name, spec] of Object.entries(BEFORE)) {
      const before = buildBefore(spec), after = buildTechnique(name);
      try {
        const a = before.source.lossAndGrads(model, { x, y }), b = after.source.lossAndGrads(model, { x, y });
        try {
          assert.equal(b.loss, a.loss, `${name}: loss`);
          assert.equal(b.savedBytes, a.savedBytes, `${name}: saved bytes`);
          assert.deepEqual(Object.keys(b.grads).sort(), Object.keys(a.grads).sort());
          for (const k of Object.keys(a.grads)) {
            assert.deepEqual(b.grads[k].dataSync(), a.grads[k].dataSync(), `${name}: gradient of ${k}`);
          }
        } finally {
          [...Object.values(a.grads), ...Object.values(b.grads)].forEach((g) => g.dispose());
        }
      } finally {
        before.dispose();
        after.dispose();
      }
    }
    assert.equal(tf.memory().numTensors, start, "tensors leaked");
  } finally {
    [x, y, ...Object.values(model.params)].forEach((t) => t.dispose());
  }
});

Deno.test("any '+' combination resolves generically, in row order", () => {
  const model = tinyGpt();
  try {
    const t = buildTechnique("mesa-per-tensor+checkpoint-every");
    const cp = buildBefore({ checkpoint: "every" }), me = buildBefore({ mesa: "per-tensor" });
    try {
      assert.deepEqual(parseTechnique(t.name).map((p) => p.technique.name), ["mesa", "checkpoint"]);
      assert.deepEqual(trunkNames(t.trunk(model.layers)), trunkNames(cp.trunk(model.layers)));
      assert.deepEqual(policyNames(model, cp.trunk, t.selector), policyNames(model, cp.trunk, me.selector));
    } finally {
      [t, cp, me].forEach((b) => b.dispose());
    }
  } finally {
    Object.values(model.params).forEach((p) => p.dispose());
  }
});

Deno.test("an unknown technique name gives an error listing the known ones", () => {
  assert.throws(() => buildTechnique("mesa-headwise"), (e: Error) => {
    assert.ok(e instanceof UnknownTechniqueError, String(e));
    assert.match(e.message, /^unknown technique "mesa-headwise": "mesa-headwise" is not a technique\./);
    assert.match(e.message, /Did you mean "mesa-head-wise"\?/);
    for (const name of Object.keys(BEFORE)) assert.ok(e.message.includes(name), `${name} not listed: ${e.message}`);
    return true;
  });
  assert.throws(() => parseTechnique("baseline+mesa-head-wise"), /"baseline" cannot be combined/);
  assert.throws(() => parseTechnique("checkpoint-sqrt+checkpoint-every"), /technique "checkpoint" appears twice/);
  assert.throws(() => parseTechnique(""), UnknownTechniqueError);
  // Through the command line: the memory experiment's config rejects it with the same list.
  assert.throws(
    () => resolveConfig(memory, [{ key: "techniques", value: "baseline,mesa-int4" }], false),
    (e: Error) => {
      assert.ok(e instanceof ConfigValueError, String(e));
      assert.match(e.message, /^bad value for "techniques": unknown technique "mesa-int4"/);
      assert.ok(e.message.includes(EXPECTED_NAMES.join(", ")), e.message); // the full list, checked above
      return true;
    },
  );
});

Deno.test("technique options reach the technique: config keys, defaults and the run's seed", () => {
  const info = { tag: "blocks.0.mlp.fc1.input", role: "linear.input", groupAxis: 1 };
  const defaults = buildTechnique("mesa-head-wise");
  const tuned = buildTechnique("mesa-head-wise", {
    mesaEmaDecay: 0,
    mesaOutOfRange: "clamp",
    mesaRounding: "nearest",
    seed: 7,
  });
  try {
    assert.deepEqual({ ...(defaults.selector(info) as MesaPolicy).options }, {
      grouping: "head-wise",
      rounding: "stochastic",
      emaDecay: 0.9,
      seed: 0,
      outOfRange: "expand",
    });
    assert.deepEqual({ ...(tuned.selector(info) as MesaPolicy).options }, {
      grouping: "head-wise",
      rounding: "nearest",
      emaDecay: 0,
      seed: 7,
      outOfRange: "clamp",
    });
  } finally {
    defaults.dispose();
    tuned.dispose();
  }
  assert.throws(
    () => buildTechnique("mesa-per-tensor", { mesaEmaDecay: 1 }),
    /Cannot build technique "mesa": 'mesaEmaDecay': .*: current value is 1/,
  );
});

Deno.test("technique options appear in --help, with defaults, and the mesa experiment keeps --emaDecay/--outOfRange", () => {
  const help = describeExperiment(memory);
  for (const technique of Object.values(TECHNIQUES)) {
    for (const [option, field] of Object.entries(technique.options.shape as Record<string, z.ZodTypeAny>)) {
      const info = describeField(field);
      assert.ok(info.hasDefault && info.description, `${technique.name}.${option} needs a default and a description`);
      const key = techniqueOptionKey(technique, option);
      const line = help.split("\n").find((l) => l.includes(`--${key}=`));
      assert.ok(line, `--${key} missing from memory --help:\n${help}`);
      assert.ok(line.includes(`default ${JSON.stringify(info.defaultValue)}`), line);
      assert.ok(describeExperiment(quickstart).includes(`--${key}=`), `--${key} missing from quickstart --help`);
    }
  }
  const mesaHelp = describeExperiment(mesaExperiment);
  assert.match(mesaHelp, /--mesaEmaDecay=<number> +default 0\.9 .*\(also --emaDecay\)/);
  assert.match(mesaHelp, /--mesaOutOfRange=<expand\|clamp> +default "expand" .*\(also --outOfRange\)/);
  const c = resolveConfig(
    mesaExperiment,
    [{ key: "emaDecay", value: "0" }, { key: "outOfRange", value: "clamp" }],
    true,
  );
  assert.equal(c.mesaEmaDecay, 0);
  assert.equal(c.mesaOutOfRange, "clamp");
});

/** A fake policy named `name` (never packs anything in these tests). */
const fakePolicy = (name: string): ActivationPolicy => ({ ...keepPolicy, name });

Deno.test("composeTechniques() chains selectors (first non-keep wins) and allows one trunk, source and optimizer", () => {
  const p1 = fakePolicy("p1"), p2 = fakePolicy("p2");
  const a: TechniqueParts = { selector: (i) => (i.role === "linear.input" ? p1 : keepPolicy) };
  const b: TechniqueParts = {
    selector: (i) => (i.role === "gelu.input" || i.role === "linear.input" ? p2 : keepPolicy),
  };
  const both = composeTechniques("a+b", ["a", "b"], [a, b]);
  assert.equal(both.selector({ tag: "x", role: "linear.input" }), p1);
  assert.equal(both.selector({ tag: "x", role: "gelu.input" }), p2);
  assert.equal(both.selector({ tag: "x", role: "attn.q" }), keepPolicy);

  let seen: { selector: PolicySelector; trunk?: TrunkTransform } | undefined;
  const fake: GradSource = {
    name: "fake",
    lossAndGrads: () => ({ loss: 0, grads: {}, savedBytes: 0, forwardBytes: 0 }),
  };
  const trunk: TrunkTransform = (layers) => layers.slice().reverse();
  const wrapped = identity();
  const c = composeTechniques("s+t", ["s", "t"], [
    { source: (seams) => ((seen = seams), fake), optimizer: () => wrapped },
    { trunk, selector: a.selector },
  ]);
  assert.equal(c.source, fake);
  assert.equal(seen?.trunk, trunk);
  assert.equal(seen?.selector, a.selector);
  assert.equal(c.optimizer(identity()), wrapped);
  const base = identity();
  assert.equal(both.optimizer(base), base, "no wrapper: the optimizer is passed through");

  let disposed = 0;
  const counted = (p: TechniqueParts): TechniqueParts => ({ ...p, dispose: () => void disposed++ });
  assert.throws(
    () => composeTechniques("x+y", ["x", "y"], [counted({ trunk }), counted({ trunk })]),
    (e: Error) => e instanceof TypeError && /"x" and "y" each provide a trunk transform/.test(e.message),
  );
  assert.equal(disposed, 2, "parts are disposed when the combination is rejected");
  assert.throws(() => composeTechniques("x+y", ["x", "y"], [{ source: () => fake }, { source: () => fake }]), /source/);
});

Deno.test("composeTechniques() applies selector wrappers around the chained selectors, wherever they stand", () => {
  const p1 = fakePolicy("p1");
  const a: TechniqueParts = { selector: (i) => (i.role === "linear.input" ? p1 : keepPolicy) };
  const seen: ActivationPolicy[] = [];
  const w: TechniqueParts = {
    wrapSelector: (rest) => (i) => {
      const inner = rest(i);
      seen.push(inner);
      return i.tag === "wrapped" ? fakePolicy(`w(${inner.name})`) : inner;
    },
  };
  for (const [labels, parts] of [[["w", "a"], [w, a]], [["a", "w"], [a, w]]] as const) {
    const c = composeTechniques(labels.join("+"), labels, parts);
    assert.equal(c.selector({ tag: "wrapped", role: "linear.input" }).name, "w(p1)");
    assert.equal(c.selector({ tag: "other", role: "linear.input" }), p1);
    assert.equal(c.selector({ tag: "other", role: "gelu.input" }), keepPolicy);
  }
  assert.equal(composeTechniques("w", ["w"], [w]).selector({ tag: "wrapped", role: "x" }).name, "w(keep)");
  assert.equal(seen.length, 7);
});

Deno.test("wtacrs+mesa-head-wise samples the level-2 Linear inputs, packs their rows with Mesa, Mesa elsewhere", () => {
  for (const name of ["wtacrs+mesa-head-wise", "mesa-head-wise+wtacrs"]) {
    const t = buildTechnique(name, { wtacrsRatio: 0.1, seed: 3 });
    try {
      const pick = (tag: string, role: string) => t.selector({ tag, role, groupAxis: 1 }).name;
      assert.equal(pick("blocks.0.mlp.fc2.input", "linear.input"), "wta-crs(0.1)+mesa(head-wise, stochastic)");
      assert.equal(pick("blocks.0.attn.qkv.input", "linear.input"), "mesa(head-wise, stochastic)");
      assert.equal(pick("blocks.0.mlp.gelu.input", "gelu.input"), "mesa(head-wise, stochastic)");
    } finally {
      t.dispose();
    }
  }
  const crs = buildTechnique("wtacrs-crs", {});
  assert.equal(crs.selector({ tag: "blocks.1.attn.proj.input", role: "linear.input" }).name, "crs(0.3)");
  assert.equal(crs.selector({ tag: "head.out.input", role: "linear.input" }).name, "keep");
  crs.dispose();
});

Deno.test("technique folders' cli.ts import neither the experiments nor another technique folder", async () => {
  const folders: string[] = [];
  for await (const e of Deno.readDir(new URL("../../lib/", import.meta.url))) {
    if (e.isDirectory) {
      try {
        await Deno.stat(new URL(`../../lib/${e.name}/cli.ts`, import.meta.url));
        folders.push(e.name);
      } catch { /* not a technique with a CLI spec */ }
    }
  }
  assert.ok(folders.includes("checkpoint") && folders.includes("mesa"), folders.join(","));
  for (const folder of folders) {
    const text = await Deno.readTextFile(new URL(`../../lib/${folder}/cli.ts`, import.meta.url));
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^"']*["']([^"']+)["']/gm)].map((m) => m[1]);
    assert.ok(specifiers.length > 0);
    for (const s of specifiers) {
      assert.ok(!s.includes("experiments"), `lib/${folder}/cli.ts imports ${s}`);
      for (const other of folders) {
        if (other !== folder) assert.ok(!s.includes(`../${other}/`), `lib/${folder}/cli.ts imports ${s}`);
      }
    }
  }
});
