/**
 * Helpers of the resume tests: deterministic tiny-GPT batches (with recurring example ids) and the bitwise
 * comparison of an uninterrupted run against one saved after `at` steps and restored into a fresh trainer.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import { countTask } from "../../lib/data/synthetic.ts";
import type { Batch, Model } from "../../lib/nn/model.ts";
import { disposeBatch, tokenBatch, Trainer, type TrainerOptions } from "../../lib/train/mod.ts";

/** The tiny GPT of the resume tests. */
export const CFG = { context: 16, dim: 32, layers: 2, heads: 4, mlpRatio: 4, vocab: 16 };

/** Batch `i` of a run: 4 count-task sequences, example ids recurring every 2 steps. */
export function batchAt(i: number): Batch {
  const b = tokenBatch(countTask(new Rng(1000 + i), { batch: 4, context: 16, vocab: 16 }), 4, 16);
  return { ...b, rows: { ids: Int32Array.from({ length: 4 }, (_, j) => (i % 2) * 4 + j) } };
}

/** A model and trainer options, built fresh for each run (init seed `seed`). */
export interface Setup {
  model: Model;
  options: TrainerOptions<unknown>;
  dispose?(): void;
}

/** The bytes of every parameter, by name. */
export function paramBytes(model: Model): Record<string, Uint8Array> {
  return Object.fromEntries(
    Object.keys(model.params).sort().map((
      k,
    ) => [k, new Uint8Array(Float32Array.from(model.params[k].dataSync()).buffer)]),
  );
}

function steps(t: Trainer<unknown>, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const b = batchAt(i);
    out.push(t.step(b).loss);
    disposeBatch(b);
  }
  return out;
}

function finish(s: Setup, t: Trainer<unknown>): void {
  t.dispose();
  s.dispose?.();
  tf.dispose(Object.values(s.model.params));
}

/**
 * Runs `n` steps straight, and `at` steps + save + restore into a fresh setup (init seed 9) + the rest; asserts the
 * losses and final parameters are identical bit for bit, and that nothing leaks.
 */
export function assertResumesBitwise(make: (seed: number) => Setup, n = 6, at = 3): void {
  const dir = Deno.makeTempDirSync();
  try {
    const a = make(0), ta = new Trainer(a.model, a.options);
    const straight = steps(ta, 0, n), want = paramBytes(a.model);
    finish(a, ta);
    const before = tf.memory().numTensors;
    const b = make(0), tb = new Trainer(b.model, b.options);
    const first = steps(tb, 0, at);
    tb.save(`${dir}/ck.safetensors`);
    finish(b, tb);
    const c = make(9), tc = new Trainer(c.model, c.options);
    tc.restore(`${dir}/ck.safetensors`);
    assert.equal(tc.stepCount, at);
    const rest = steps(tc, at, n);
    assert.deepStrictEqual([...first, ...rest], straight, "losses bit for bit");
    assert.deepStrictEqual(paramBytes(c.model), want, "final parameters bit for bit");
    finish(c, tc);
    assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
