import assert from "node:assert/strict";
import { parseCli } from "../../experiments/_lib/cli.ts";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { UsageError } from "../../experiments/_lib/errors.ts";
import { describeExperiment } from "../../experiments/_lib/help.ts";
import { experiments } from "../../experiments/registry.ts";
import { Rng } from "../../lib/data/rng.ts";

/** Cases per run: a few thousand by default, more with MEMTRAIN_FUZZ_CASES. */
const CASES = Number(Deno.env.get("MEMTRAIN_FUZZ_CASES") ?? 3000);

const NAMES = Object.keys(experiments);
const KEYS = [...new Set(Object.values(experiments).flatMap((e) => Object.keys(e.schema.shape)))];
const TRICKY_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "prototype", "", "-", "a-", "--x", "é"];
const OPTIONS = ["--quick", "--out", "--backend", "--jobs", "--cell", "--shard", "--quiet", "--resume", "--help"];
const VALUES = [
  "",
  " ",
  "0",
  "-1",
  "1e309",
  "-0",
  "NaN",
  "Infinity",
  "0x1f",
  "1,2,3",
  ",",
  "1,,2",
  "true",
  "off",
  "[1,2]",
  '{"a":1}',
  "null",
  "baseline",
  "mesa-head-wise",
  "checkpoint-sqrt+mesa-head-wise",
  "adamw",
  "galore",
  "1/2",
  "3/2",
  "9007199254740993",
  "\u0000",
  "💥",
  "=",
  "a=b",
];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.uniform() * xs.length)];
}

function randomText(rng: Rng): string {
  const n = Math.floor(rng.uniform() * 8);
  return Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(rng.uniform() * 95))).join("");
}

function mutate(rng: Rng, key: string): string {
  const r = rng.uniform();
  if (r < 0.6) return key;
  if (r < 0.7) return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`); // kebab-case spelling
  if (r < 0.8) return key.slice(0, -1);
  if (r < 0.9) return pick(rng, TRICKY_KEYS);
  return randomText(rng);
}

function randomArg(rng: Rng): string[] {
  const r = rng.uniform();
  const value = () => (rng.uniform() < 0.7 ? pick(rng, VALUES) : randomText(rng));
  if (r < 0.55) {
    const key = mutate(rng, pick(rng, KEYS));
    return [rng.uniform() < 0.85 ? `--${key}=${value()}` : `--${key}`];
  }
  if (r < 0.8) {
    const o = pick(rng, OPTIONS);
    return rng.uniform() < 0.5 ? [o, value()] : [`${o}=${value()}`];
  }
  if (r < 0.9) return [pick(rng, ["-h", "-x", "-1", "--", "--=1", "-"])];
  return [randomText(rng)];
}

Deno.test(`fuzz: ${CASES} seeded random command lines parse or fail with a UsageError, never crash`, () => {
  const rng = new Rng(2026);
  let resolved = 0, refused = 0;
  for (let t = 0; t < CASES; t++) {
    const args = [
      pick(rng, NAMES),
      ...Array.from({ length: Math.floor(rng.uniform() * 5) }, () => randomArg(rng))
        .flat(),
    ];
    try {
      const cli = parseCli(args);
      const experiment = cli.name !== undefined && Object.hasOwn(experiments, cli.name)
        ? experiments[cli.name]
        : undefined;
      if (!experiment) {
        refused++;
        continue;
      }
      if (cli.help) describeExperiment(experiment);
      const config = resolveConfig(experiment, cli.overrides, cli.quick) as Record<string, unknown>;
      // The result is a plain config: every key the schema's, nothing smuggled in through the prototype.
      assert.equal(Object.getPrototypeOf(config), Object.prototype, JSON.stringify(args));
      for (const [k, v] of Object.entries(config)) {
        assert.ok(Object.hasOwn(experiment.schema.shape, k), k);
        for (const x of [v].flat()) if (typeof x === "number") assert.ok(Number.isFinite(x), `${k}=${x} is not finite`);
      }
      resolved++;
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      if (!(e instanceof UsageError)) {
        assert.fail(`args ${JSON.stringify(args)} threw ${e instanceof Error ? e.stack : e}, not a UsageError`);
      }
      assert.ok(e.message.length > 0 && !e.message.includes("\n"), `one-line message for ${JSON.stringify(args)}`);
      refused++;
    }
  }
  assert.equal(resolved + refused, CASES);
  assert.ok(resolved > CASES / 20 && refused > CASES / 20, `both outcomes occur: ${resolved} / ${refused}`);
});
