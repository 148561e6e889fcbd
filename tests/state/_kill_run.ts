/**
 * The run of the SIGKILL test: runLm on a tiny GPT for 10 steps with a 16 MiB "ballast" stateful piece (constant
 * data, checked on load), so each checkpoint is big while a step is cheap.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { charCorpusFromText } from "../../lib/data/mod.ts";
import { createGpt } from "../../lib/models/mod.ts";
import type { Stateful, StateTree } from "../../lib/nn/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { type RunCheckpointOptions, runLm, type RunSummary } from "../../lib/train/mod.ts";
import { CFG, paramBytes } from "../train/_resume.ts";

const BALLAST = 4 << 20;

class Ballast implements Stateful {
  stateDict(): StateTree {
    return { data: new Float32Array(BALLAST).fill(0.5) };
  }
  loadStateDict(state: StateTree): void {
    const d = (state as { data?: Float32Array }).data;
    if (!(d instanceof Float32Array) || d.length !== BALLAST || d.some((v) => v !== 0.5)) {
      throw new RangeError("Cannot load ballast: wrong data");
    }
  }
}

/** Runs the 10-step run; returns its summary and final parameter bytes. */
export function killRun(
  checkpoint: RunCheckpointOptions | undefined,
  onStep?: (step: number) => void,
): { r: RunSummary; params: Record<string, Uint8Array> } {
  const corpus = charCorpusFromText("one two three four five six seven. ".repeat(20));
  const model = createGpt({ ...CFG, vocab: corpus.vocabSize }, { seed: 0 });
  const r = runLm({
    model,
    optimizer: adamw({ lr: 1e-2 }),
    data: corpus,
    steps: 10,
    batch: 2,
    context: 16,
    evalBatches: 1,
    stateful: { ballast: new Ballast() },
    ...(checkpoint ? { checkpoint } : {}),
    ...(onStep ? { onStep: (p: { step: number }) => onStep(p.step) } : {}),
  });
  const params = paramBytes(model);
  tf.dispose(Object.values(model.params));
  return { r, params };
}
