import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { charCorpusFromText } from "../../lib/data/mod.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { createGpt, createVit, VIT_PRESETS } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { CheckpointError } from "../../lib/state/mod.ts";
import { backprop, runClassifier, runLm, type RunSummary } from "../../lib/train/mod.ts";
import { listCheckpoints } from "../../lib/train/train_loop.ts";
import { CFG, paramBytes } from "./_resume.ts";

const corpus = charCorpusFromText("the quick brown fox jumps over the lazy dog. ".repeat(30));
const cfg = { ...CFG, vocab: corpus.vocabSize };

/** runLm for 8 steps (Mesa when `withMesa`), optionally with checkpoints and a crash after step `crashAt`. */
function lm(
  withMesa: boolean,
  checkpoint?: { dir: string; every: number; resume: boolean },
  crashAt?: number,
  init = 0,
): { r?: RunSummary; params: Record<string, Uint8Array> } {
  const model = createGpt(cfg, { seed: init });
  const m = withMesa ? mesa({ grouping: "head-wise", seed: 1 }) : undefined;
  try {
    const r = runLm({
      model,
      optimizer: adamw({ lr: 1e-2 }),
      ...(m ? { source: backprop({ selector: m.selector }), stateful: { mesa: m.state } } : {}),
      data: corpus,
      steps: 8,
      batch: 4,
      context: 16,
      seed: 5,
      evalBatches: 2,
      ...(checkpoint ? { checkpoint } : {}),
      onStep: (p) => {
        if (p.step === crashAt) throw new Error("simulated crash");
      },
    });
    return { r, params: paramBytes(model) };
  } catch (e) {
    if ((e as Error).message !== "simulated crash") throw e;
    return { params: {} };
  } finally {
    m?.dispose();
    tf.dispose(Object.values(model.params));
  }
}

for (const withMesa of [false, true]) {
  Deno.test(`runLm${withMesa ? " + Mesa" : ""}: crashed at step 7, resumed from step 6, equals the straight run bit for bit`, () => {
    const dir = Deno.makeTempDirSync();
    try {
      const straight = lm(withMesa);
      lm(withMesa, { dir, every: 3, resume: false }, 7);
      assert.deepEqual(listCheckpoints(dir), [3, 6], "checkpoints at 3 and 6, the crash wrote none");
      const resumed = lm(withMesa, { dir, every: 3, resume: true }, undefined, 4);
      assert.deepStrictEqual(resumed.r!.losses, straight.r!.losses);
      assert.equal(resumed.r!.evalLoss, straight.r!.evalLoss);
      assert.deepStrictEqual(resumed.params, straight.params);
      assert.deepEqual(listCheckpoints(dir), [6, 8], "the end is checkpointed, the two newest kept");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("runLm: a checkpoint folder is not overwritten without resume, and a resumed run must match its config", () => {
  const dir = Deno.makeTempDirSync();
  try {
    lm(false, { dir, every: 4, resume: false });
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const bytes = files.map((f) => Deno.readFileSync(`${dir}/${f}`));
    assert.throws(() => lm(false, { dir, every: 4, resume: false }), /already holds checkpoints \(newest: step 8\)/);
    const model = createGpt(cfg, { seed: 0 });
    assert.throws(
      () =>
        runLm({
          model,
          optimizer: adamw({ lr: 1e-2 }),
          data: corpus,
          steps: 8,
          batch: 2,
          context: 16,
          seed: 5,
          checkpoint: { dir, every: 4, resume: true },
        }),
      (e) => e instanceof CheckpointError && /its run has batch = 4, this run 2/.test(e.message),
    );
    tf.dispose(Object.values(model.params));
    assert.deepEqual(files.map((f) => Deno.readFileSync(`${dir}/${f}`)), bytes, "nothing overwritten");
    assert.throws(() => lm(false, { dir, every: 0, resume: true }), /'checkpoint.every' must be a positive integer/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("runClassifier: the epoch permutation and position are restored, bit for bit", () => {
  const n = 12, pixels = new Float32Array(n * 784), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    pixels.fill(0.2 + 0.3 * labels[i] + 0.01 * i, i * 784, (i + 1) * 784);
  }
  const ds = {
    images: pixels,
    labels,
    n,
    height: 28,
    width: 28,
    channels: 1 as const,
    numClasses: 10 as const,
    classNames: [],
  };
  const run = (checkpoint?: { dir: string; every: number; resume: boolean }, crashAt?: number) => {
    const vit = createVit({ ...VIT_PRESETS.tiny, layers: 1 }, { seed: 0 });
    try {
      const r = runClassifier({
        model: vit,
        optimizer: adamw({ lr: 3e-3 }),
        train: ds,
        test: ds,
        steps: 7,
        batch: 5, // 2 batches per epoch: the permutation changes across the checkpoint
        seed: 2,
        ...(checkpoint ? { checkpoint } : {}),
        onStep: (p) => {
          if (p.step === crashAt) throw new Error("simulated crash");
        },
      });
      return { losses: r.losses, params: paramBytes(vit) };
    } catch (e) {
      if ((e as Error).message !== "simulated crash") throw e;
      return undefined;
    } finally {
      tf.dispose(Object.values(vit.params));
    }
  };
  const dir = Deno.makeTempDirSync();
  try {
    const straight = run()!;
    run({ dir, every: 3, resume: false }, 5);
    const resumed = run({ dir, every: 3, resume: true })!;
    assert.deepStrictEqual(resumed, straight);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("runLm: resuming from a truncated or bit-flipped newest checkpoint throws a CheckpointError and overwrites nothing", () => {
  const dir = Deno.makeTempDirSync();
  try {
    lm(false, { dir, every: 4, resume: false }, 6);
    const path = `${dir}/step-00000004.safetensors`, good = Deno.readFileSync(path);
    const flipped = good.slice();
    flipped[good.length - 5] ^= 0x40;
    for (
      const [bad, re] of [[good.subarray(0, good.length - 3), /truncated/], [
        flipped,
        /checksum does not match/,
      ]] as const
    ) {
      Deno.writeFileSync(path, bad);
      assert.throws(
        () => lm(false, { dir, every: 4, resume: true }),
        (e) => e instanceof CheckpointError && e.file === path && re.test(e.message),
      );
      assert.deepEqual(listCheckpoints(dir), [4]);
      assert.deepStrictEqual(Deno.readFileSync(path), bad, "the bad file is left as it was, nothing written");
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
