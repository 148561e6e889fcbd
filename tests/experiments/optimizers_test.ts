import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import { ConfigValueError } from "../../experiments/_lib/errors.ts";
import type { AnyExperiment } from "../../experiments/_lib/experiment.ts";
import { describeExperiment } from "../../experiments/_lib/help.ts";
import { buildOptimizer, OPTIMIZER_NAMES } from "../../experiments/_lib/optimizers.ts";
import { baseline } from "../../experiments/baseline.ts";
import { memory } from "../../experiments/memory.ts";
import { quickstart } from "../../experiments/quickstart.ts";
import { initBackend } from "../../lib/backend/mod.ts";
import { loadCharCorpus } from "../../lib/data/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { adam, adamw, disposeState, type GradientTransform, sgd } from "../../lib/optim/mod.ts";
import { runLm } from "../../lib/train/mod.ts";

await initBackend({ backend: "wasm" });

/** Three updates of `opt` on fixed params and gradients; returns the updates of each step as arrays. */
function updates(opt: GradientTransform<unknown>): Float32Array[][] {
  const params = { "blocks.0.fc.w": tf.tensor2d([[1, -2], [3, 0.5]]), "blocks.0.fc.b": tf.tensor1d([0.25, -1]) };
  let state = opt.init(params);
  const out: Float32Array[][] = [];
  try {
    for (let step = 0; step < 3; step++) {
      const grads = {
        "blocks.0.fc.w": tf.tensor2d([[0.1 * step, -1], [2, 0.3]]),
        "blocks.0.fc.b": tf.tensor1d([1, -0.5]),
      };
      const r = opt.update(grads, state, params);
      out.push(Object.values(r.updates).map((u) => u.dataSync() as Float32Array));
      disposeState([grads, state, r.updates]);
      state = r.state;
    }
  } finally {
    disposeState([params, state]);
  }
  return out;
}

Deno.test("the optimizer config value selects the transform, with today's adamw as the default", () => {
  const run = { lr: 0.01, weightDecay: 0.05 };
  const defaults = resolveConfig(baseline, [], false);
  assert.equal(defaults.optimizer, "adamw");
  assert.deepEqual(updates(buildOptimizer(defaults, run)), updates(adamw({ lr: 0.01, weightDecay: 0.05 })));
  const sgdConfig = resolveConfig(
    baseline,
    [{ key: "optimizer", value: "sgd" }, { key: "sgdMomentum", value: "0.9" }],
    false,
  );
  const viaSgd = updates(buildOptimizer(sgdConfig, run));
  assert.deepEqual(viaSgd, updates(sgd({ lr: 0.01, weightDecay: 0.05, momentum: 0.9 })));
  const adamConfig = resolveConfig(
    baseline,
    [{ key: "optimizer", value: "adam" }, { key: "adamB2", value: "0.99" }],
    false,
  );
  const viaAdam = updates(buildOptimizer(adamConfig, { lr: 0.01, weightDecay: 0 }));
  assert.deepEqual(viaAdam, updates(adam({ lr: 0.01, b2: 0.99 })));
  // The three really differ on these gradients.
  assert.notDeepEqual(viaSgd, updates(buildOptimizer(defaults, run)));
  assert.notDeepEqual(viaAdam, updates(buildOptimizer(defaults, { lr: 0.01, weightDecay: 0 })));
});

Deno.test("a bad optimizer value errors listing the allowed values", () => {
  assert.deepEqual(OPTIMIZER_NAMES, ["adamw", "adam", "sgd", "galore"]);
  for (const e of [baseline, memory, quickstart] as AnyExperiment[]) {
    assert.throws(() => resolveConfig(e, [{ key: "optimizer", value: "adamW" }], false), (err: Error) => {
      assert.ok(err instanceof ConfigValueError, String(err));
      assert.match(
        err.message,
        /^bad value for "optimizer": expected one of "adamw", "adam", "sgd", "galore", got "adamW"/,
      );
      return true;
    });
  }
  assert.throws(
    () => buildOptimizer({ optimizer: "lion" }, { lr: 0.1, weightDecay: 0 }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message ===
        `Cannot build optimizer: 'optimizer' must be one of "adamw", "adam", "sgd", "galore": current value is "lion"`,
  );
  assert.throws(
    () => buildOptimizer({ optimizer: "adam" }, { lr: 0.1, weightDecay: 0.01, weightDecayKey: "gptWeightDecay" }),
    /Cannot build optimizer "adam": it has no weight decay, so 'gptWeightDecay' must be 0 .*current value is 0.01/,
  );
  assert.throws(
    () => buildOptimizer({ optimizer: "sgd", sgdMomentum: 1 }, { lr: 0.1, weightDecay: 0 }),
    /Cannot build optimizer "sgd": 'sgdMomentum': .*current value is 1/,
  );
});

Deno.test("the optimizer and its options appear in --help", () => {
  for (const e of [baseline, memory, quickstart] as AnyExperiment[]) {
    const help = describeExperiment(e);
    assert.match(help, /--optimizer=<adamw\|adam\|sgd\|galore> +default "adamw"/, e.name);
    for (
      const key of [
        "adamwB1",
        "adamwB2",
        "adamwEps",
        "adamB1",
        "adamB2",
        "adamEps",
        "sgdMomentum",
        "sgdNesterov",
        "galoreRank",
        "galoreUpdateProjGap",
        "galoreScale",
        "galoreSvd",
        "galoreRotateMoments",
      ]
    ) {
      assert.ok(help.includes(`--${key}=`), `${e.name}: --${key} missing`);
    }
  }
  assert.match(describeExperiment(baseline), /--gptWeightDecay=<number> +default 0\.01 /);
  assert.match(describeExperiment(baseline), /--vitWeightDecay=<number> +default 0\.05 /);
  assert.match(describeExperiment(memory), /--lr=<number> +default 0\.0001 /);
});

Deno.test("quickstart trains with the configured optimizer: same losses as runLm with that optimizer", async () => {
  const config = resolveConfig(quickstart, [
    { key: "steps", value: "3" },
    { key: "batch", value: "2" },
    { key: "context", value: "8" },
    { key: "optimizer", value: "sgd" },
    { key: "sgdMomentum", value: "0.5" },
  ], false);
  const [row] = await quickstart.run(config, { quick: false, log: () => {}, outDir: "/nonexistent" });
  const corpus = await loadCharCorpus({ name: "moby-dick" });
  const model = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize }, { seed: 0 });
  const direct = (optimizer: GradientTransform<unknown>) =>
    runLm({ model, optimizer, data: corpus, steps: 3, batch: 2, context: 8, seed: 0 });
  try {
    const bySgd = direct(sgd({ lr: config.lr, weightDecay: 0.01, momentum: 0.5 }));
    assert.equal(row.loss, bySgd.trainLoss);
    assert.equal(row.valLoss, bySgd.evalLoss);
  } finally {
    Object.values(model.params).forEach((p) => p.dispose());
  }
  const adamwModel = createGpt({ ...GPT_PRESETS.tiny, vocab: corpus.vocabSize }, { seed: 0 });
  try {
    const byAdamw = runLm({
      model: adamwModel,
      optimizer: adamw({ lr: config.lr }),
      data: corpus,
      steps: 3,
      batch: 2,
      context: 8,
      seed: 0,
    });
    assert.notEqual(row.valLoss, byAdamw.evalLoss, "sgd and adamw runs should differ");
  } finally {
    Object.values(adamwModel.params).forEach((p) => p.dispose());
  }
});
