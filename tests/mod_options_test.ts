/**
 * Every public function of mod.ts that takes options rejects a representative bad value with a std-style
 * `RangeError` / `TypeError` naming the option and the value ("Cannot X: 'opt' must ...: current value is V").
 * @module
 */
import assert from "node:assert/strict";
import * as m from "../mod.ts";

await m.initBackend({ backend: "cpu" });

const gpt = () => m.createGpt({ vocab: 10, context: 8, dim: 8, layers: 1, heads: 1 });
const images = { images: new Float32Array(12), labels: new Int32Array(1), n: 1, height: 2, width: 2, channels: 3 };
const lm = (extra: Record<string, unknown>) => () =>
  m.runLm({
    model: gpt(),
    optimizer: m.sgd({ lr: 0.1 }),
    data: { train: new Int32Array(100), val: new Int32Array(100) },
    steps: 1,
    batch: 1,
    context: 4,
    ...extra,
  });

/** [function, option, shown value, call]: the call must throw naming `'option'` and `current value is <shown>`. */
const CASES: [string, string, string, () => unknown][] = [
  ["adam", "lr", "-1", () => m.adam({ lr: -1 })],
  ["adamw", "weightDecay", "-1", () => m.adamw({ lr: 0.1, weightDecay: -1 })],
  ["sgd", "momentum", "2", () => m.sgd({ lr: 0.1, momentum: 2 })],
  ["galore", "rank", "0", () => m.galore({ lr: 0.1, rank: 0 } as never)],
  ["scaleByGalore", "updateProjGap", "0", () => m.scaleByGalore({ rank: 2, updateProjGap: 0 } as never)],
  ["scaleByAdam", "b1", "2", () => m.scaleByAdam({ b1: 2 } as never)],
  ["scaleByLearningRate", "lr", "NaN", () => m.scaleByLearningRate(NaN)],
  ["clipByGlobalNorm", "maxNorm", "-1", () => m.clipByGlobalNorm(-1)],
  ["constantSchedule", "value", "NaN", () => m.constantSchedule(NaN)],
  ["warmupCosineSchedule", "totalSteps", "0", () => m.warmupCosineSchedule({ peak: 1, warmupSteps: 1, totalSteps: 0 })],
  ["lowRankWeights", "rank", "0", () => m.lowRankWeights({ rank: 0, base: m.sgd({ lr: 0.1 }) })],
  ["galoreStateBytesAnalytic", "rank", "0", () => m.galoreStateBytesAnalytic({ w: [4, 4] }, { rank: 0 })],
  ["mezo", "eps", "-1", () => m.mezo({ lr: 0.1, eps: -1 })],
  ["streamBp", "chunk", "0", () => m.streamBp({ chunk: 0 })],
  ["streamDpo", "beta", "-1", () => m.streamDpo({ reference: {}, beta: -1 })],
  ["mesa", "emaDecay", "2", () => m.mesa({ emaDecay: 2 })],
  ["mesaExcept", "prefixes", '"blocks.0"', () => m.mesaExcept("blocks.0" as never)],
  ["wtacrs", "ratio", "2", () => m.wtacrs({ ratio: 2 })],
  ["checkpoint", "every", "0", () => m.checkpoint({ plan: { every: 0 } })],
  ["planSegments", "n", "-1", () => m.planSegments(-1, "sqrt")],
  ["createGpt", "dim", "0", () => m.createGpt({ vocab: 10, context: 8, dim: 0, layers: 1, heads: 1 })],
  [
    "createGpt (seed)",
    "seed",
    "NaN",
    () => m.createGpt({ vocab: 10, context: 8, dim: 8, layers: 1, heads: 1 }, { seed: NaN }),
  ],
  [
    "createVit",
    "classes",
    "0",
    () => m.createVit({ imageSize: 28, channels: 1, patch: 7, dim: 8, layers: 1, heads: 1, classes: 0 }),
  ],
  ["withLora", "rank", "0", () => m.withLora(gpt(), { rank: 0 })],
  ["charCorpusFromText", "valFraction", "2", () => m.charCorpusFromText("abcdefgh", { valFraction: 2 })],
  ["loadCharCorpus", "name", "bogus", () => m.loadCharCorpus({ name: "bogus" as never })],
  ["loadNameGender", "testSize", "-1", () => m.loadNameGender({ testSize: -1 })],
  ["loadFashionMnist", "limit", "0", () => m.loadFashionMnist({ split: "test", limit: 0 })],
  ["normalizeImages", "std", "0", () => m.normalizeImages(images as never, { std: 0 })],
  ["sampleLmBatch", "batch", "0", () => m.sampleLmBatch(new Int32Array(100), 0, 4, new m.Rng(0))],
  ["tokenBatch", "context", "0", () => m.tokenBatch({ x: new Int32Array(0), y: new Int32Array(0) }, 4, 0)],
  ["imageBatches", "batchSize", "0", () => [...m.imageBatches(images as never, 0)]],
  ["encodeNames", "context", "0", () => m.encodeNames(["ab"], [0], ["\n", "a", "b"], 0, 0)],
  ["Rng", "seed", "NaN", () => new m.Rng(NaN)],
  ["Trainer", "seed", "1.5", () => new m.Trainer(gpt(), { optimizer: m.sgd({ lr: 0.1 }), seed: 1.5 })],
  ["gradientStep", "update", "x", () => m.gradientStep(m.backprop(), m.sgd({ lr: 0.1 }), { update: "x" as never })],
  ["predictUpdateBytes", "stateSets", "-1", () => m.predictUpdateBytes(gpt(), { mode: "per-param", stateSets: -1 })],
  ["runLm", "steps", "0", lm({ steps: 0 })],
  ["runLm (batch)", "batch", "0", lm({ batch: 0 })],
  ["barChartSpec", "width", "-1", () => m.barChartSpec([{ label: "a", value: 1 }] as never, { width: -1 })],
  ["lossCurveSpec", "height", "NaN", () => m.lossCurveSpec([{ name: "a", points: [[0, 1]] }], { height: NaN })],
  ["lineChartSvg", "width", "0", () => m.lineChartSvg([{ name: "a", points: [[0, 1]] }], { width: 0 })],
  ["initBackend", "backend", '"bogus"', () => m.initBackend({ backend: "bogus" as never })],
];

Deno.test(`mod.ts: ${CASES.length} public functions reject a bad option value, naming the option and the value`, async () => {
  for (const [fn, option, shown, call] of CASES) {
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof RangeError || error instanceof TypeError, `${fn}: threw ${error}`);
    assert.ok(error.message.startsWith("Cannot "), `${fn}: ${error.message}`);
    assert.ok(error.message.includes(`'${option}'`), `${fn}: names '${option}': ${error.message}`);
    assert.ok(error.message.includes(`current value is ${shown}`), `${fn}: shows ${shown}: ${error.message}`);
    assert.ok(!error.message.includes("\n"), `${fn}: one line`);
  }
});
