/**
 * GaLore run parameter by parameter: the in-place step and update in backward against the whole-set step, across
 * subspace refreshes (lib/optim/separable.ts slices GaLore's state per parameter; the update count is shared).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { countTask } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/data/rng.ts";
import { galore, type RefreshEvent, type ScaleByGaloreState } from "../../lib/galore/galore.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { globalTransforms } from "../../lib/optim/separable.ts";
import { clipByGlobalNorm } from "../../lib/optim/clip.ts";
import { chain, type GradientTransform } from "../../lib/optim/transform.ts";
import { scaleByGalore } from "../../lib/galore/galore.ts";
import { disposeBatch, tokenBatch, Trainer, type UpdateMode } from "../../lib/train/mod.ts";
import { testOnBackends } from "../_util/backends.ts";

const CFG = { ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 2, dim: 16 };
const GAP = 2;
const STEPS = 5; // refreshes at updates 0, 2 and 4

function run(update: UpdateMode, rotateMoments: boolean) {
  const events: RefreshEvent[] = [];
  // The randomized finder draws its test matrices from one stream per (parameter, step), so the projectors do not
  // depend on the order the parameters are updated in: the runs can agree bit for bit.
  const opt = galore({
    lr: 1e-2,
    rank: 2,
    updateProjGap: GAP,
    svd: "randomized",
    weightDecay: 0.1,
    rotateMoments,
    onRefresh: (e) => events.push(e),
  });
  const gpt = createGpt(CFG, { seed: 0 });
  const trainer = new Trainer(gpt, { optimizer: opt, update });
  const rng = new Rng(3);
  const out: Record<string, Float32Array>[] = [];
  const refreshedAt: Record<string, number>[] = [];
  for (let i = 0; i < STEPS; i++) {
    const b = tokenBatch(countTask(rng, { batch: 4, context: 8, vocab: 16 }), 4, 8);
    trainer.step(b);
    disposeBatch(b);
    out.push(Object.fromEntries(Object.entries(gpt.params).map(([k, t]) => [k, t.dataSync() as Float32Array])));
    const g = (trainer.state as unknown as [ScaleByGaloreState])[0];
    assert.equal(g.count, i + 1, `${update}: one shared update count`);
    refreshedAt.push(Object.fromEntries(Object.entries(g.proj).map(([k, p]) => [k, p.refreshedAt])));
  }
  trainer.dispose();
  tf.dispose(Object.values(gpt.params));
  return { out, events, refreshedAt };
}

testOnBackends(
  "GaLore in place and in backward equal the whole-set step bit for bit across refreshes (and with rotateMoments)",
  () => {
    for (const rotate of [false, true]) {
      const whole = run("whole-set", rotate);
      const projected = Object.keys(whole.refreshedAt[0]);
      assert.ok(projected.length >= 4, `projected: ${projected}`);
      for (const mode of ["per-param", "in-backward"] as const) {
        const got = run(mode, rotate);
        got.out.forEach((step, i) => {
          for (const k of Object.keys(step)) {
            assert.deepEqual(step[k], whole.out[i][k], `${mode}, rotate ${rotate}, step ${i}: ${k}`);
          }
        });
        // Every projected parameter refreshes at 0, T, 2T (its own refresh, one event each), none in between.
        got.refreshedAt.forEach((r, i) => {
          for (const k of projected) assert.equal(r[k], Math.floor(i / GAP) * GAP, `${mode}: ${k} after step ${i}`);
        });
        const steps = [...new Set(got.events.map((e) => e.step))];
        assert.deepEqual(steps, [0, 2, 4], mode);
        for (const s of steps) {
          const at = got.events.filter((e) => e.step === s);
          assert.equal(at.length, projected.length, `${mode}: one refresh event per projected parameter at ${s}`);
          assert.ok(at.every((e) => e.params === 1 && e.kept.length === 0));
        }
      }
      assert.deepEqual(whole.events.map((e) => [e.step, e.params]), [0, 2, 4].map((s) => [s, projected.length]));
    }
  },
);

testOnBackends("GaLore declares itself separable; a global base or a global chain around it does not", () => {
  assert.deepEqual(globalTransforms(galore({ lr: 1e-2, rank: 2 })), []);
  assert.deepEqual(globalTransforms(scaleByGalore({ rank: 2 })), []);
  assert.deepEqual(globalTransforms(scaleByGalore({ rank: 2, base: clipByGlobalNorm(1) })), ["clipByGlobalNorm"]);
  const clipped = chain(clipByGlobalNorm(1), galore({ lr: 1e-2, rank: 2 }) as GradientTransform<unknown>);
  const gpt = createGpt(CFG, { seed: 0 });
  assert.throws(() => new Trainer(gpt, { optimizer: clipped, update: "in-backward" }), /'clipByGlobalNorm'/);
  tf.dispose(Object.values(gpt.params));
});
