/**
 * `deno task experiment step-timeline`: where a training step's memory peak is, phase by phase, by the meter's
 * timeline (`meter().startTimeline()` / `mark`): each trunk layer's forward, the loss, each layer's backward (and a
 * checkpointed segment's recompute), and the optimizer's update. Per technique one row: the step's peak, the phase it
 * falls in, what is alive then (the parameters, optimizer state and batch held before the step; the saved
 * activations; the gradients alive; the rest: that phase's own tensors, e.g. a recomputed segment's activations or an
 * update's new moments), the highest backward and update phases, and the buffers the step allocated that are alive at
 * its peak, grouped by dtype and shape (`peakBuffers`, `experiments/_lib/peak_buffers.ts`). Built to explain where update in backward's
 * saving goes (issue 13); the layers and the optimizer are wrapped to place the marks (names kept, so checkpoint plans
 * are the same), which costs nothing the meter sees.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { loadCharCorpus, Rng, sampleLmBatch } from "../lib/data/mod.ts";
import { meter, mib, type TimelineSpan } from "../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import type { Context, SavedStore } from "../lib/nn/context.ts";
import type { Layer } from "../lib/nn/layer.ts";
import { disposeTree, type Model } from "../lib/nn/mod.ts";
import type { GradientTransform } from "../lib/optim/transform.ts";
import { disposeBatch, tokenBatch, Trainer } from "../lib/train/mod.ts";
import { defineExperiment, runCellsInOrder } from "./_lib/experiment.ts";
import { buildOptimizer, optimizerFields } from "./_lib/optimizers.ts";
import { type BufferGroup, buffersAtPeak } from "./_lib/peak_buffers.ts";
import { buildTechnique, techniqueFields, techniqueName } from "./_lib/techniques.ts";

/** What the marks record besides the meter's spans: the saved and gradient bytes alive when each span starts. */
interface Probe {
  phase: "forward" | "backward" | "after";
  root?: SavedStore;
  /** The store the last marked layer saved into (a segment's recompute store, or the root). */
  last?: SavedStore;
  /** The last layer label (`backward blocks.3`), for the span after an update inside it. */
  layer: string;
  grads?: Record<string, tf.Tensor>;
  at: { saved: number; grads: number }[];
}

/** Bytes of the live gradients among `lists` (each tensor once). */
function gradBytes(...lists: (Record<string, tf.Tensor> | undefined)[]): number {
  const seen = new Set<tf.Tensor>();
  for (const l of lists) for (const g of Object.values(l ?? {})) if (!g.isDisposed) seen.add(g);
  return [...seen].reduce((n, g) => n + 4 * g.size, 0);
}

/** Ends the current span and starts `label`, noting the saved and gradient bytes alive (`handed`: an update's). */
function mark(probe: Probe, label: string, ctx?: Context, handed?: Record<string, tf.Tensor>): void {
  if (ctx) {
    probe.root ??= ctx.store;
    probe.last = ctx.store;
    probe.grads = ctx.grads;
    probe.layer = label;
  }
  const own = probe.last && probe.last !== probe.root ? probe.last.bytes() : 0; // a segment's recompute store
  probe.at.push({ saved: (probe.root?.bytes() ?? 0) + own, grads: gradBytes(probe.grads, handed) });
  meter().mark(label);
}

/** A trunk layer placing marks: `forward L`, `backward L`, and `recompute L` for a forward run inside backward. */
class Marked implements Layer {
  constructor(readonly inner: Layer, readonly probe: Probe, readonly first: boolean) {}
  get name(): string {
    return this.inner.name;
  }
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    mark(this.probe, `${this.probe.phase === "forward" ? "forward" : "recompute"} ${this.name}`, ctx);
    return this.inner.forward(x, ctx);
  }
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor | null {
    mark(this.probe, `backward ${this.name}`, ctx);
    const dx = this.inner.backward(dy, ctx);
    if (this.first) this.probe.phase = "after"; // what runs now is the update after backward
    return dx;
  }
  paramSpecs() {
    return this.inner.paramSpecs();
  }
  savedSpecs(s: readonly number[]) {
    return this.inner.savedSpecs(s);
  }
  outputShape(s: readonly number[]) {
    return this.inner.outputShape(s);
  }
}

function markedModel(model: Model, probe: Probe): Model {
  const loss = model.loss;
  const markedLoss: Model["loss"] = Object.assign(Object.create(Object.getPrototypeOf(loss)), loss, {
    forward: (logits: tf.Tensor, y: tf.Tensor, ctx: Context, w?: tf.Tensor) => {
      mark(probe, "loss", ctx);
      return loss.forward(logits, y, ctx, w);
    },
    backward: (ctx: Context, shape: number[]) => {
      probe.phase = "backward";
      mark(probe, "backward loss", ctx);
      return loss.backward(ctx, shape);
    },
  });
  return { ...model, layers: model.layers.map((l, i) => new Marked(l, probe, i === 0)), loss: markedLoss };
}

function markedOptimizer(opt: GradientTransform<unknown>, probe: Probe): GradientTransform<unknown> {
  return {
    ...opt,
    update(grads, state, params, extras) {
      const keys = Object.keys(grads);
      mark(probe, `update ${keys.length === 1 ? keys[0] : "(all)"}`, undefined, grads);
      try {
        return opt.update(grads, state, params, extras);
      } finally {
        // The rest: the new value (in place, in backward) and, in backward, the rest of the layer's backward.
        if (probe.phase === "backward") mark(probe, `${probe.layer} after update`, undefined, grads);
      }
    },
  };
}

/** The experiment. */
export const stepTimeline = defineExperiment({
  name: "step-timeline",
  description:
    "Where a training step's memory peak is (the meter's timeline, phase by phase) and what is alive then, per technique, on GPT-small",
  schema: z.object({
    techniques: z.array(techniqueName()).default([
      "checkpoint-sqrt+mesa-head-wise+update-whole-set",
      "checkpoint-sqrt+mesa-head-wise",
      "checkpoint-sqrt+mesa-head-wise+update-in-backward",
    ]).describe("techniques to compare (rows of the memory experiment)"),
    gptDepth: z.number().int().positive().default(8).describe("GPT-small depth (layers)"),
    gptBatch: z.number().int().positive().default(16).describe("GPT sequences per batch (T = 128)"),
    warmup: z.number().int().nonnegative().default(2).describe("steps before the recorded one"),
    seed: z.number().int().default(0).describe("init, batch and technique seed"),
    lr: z.number().positive().default(1e-4).describe("optimizer learning rate (the figures do not depend on it)"),
    weightDecay: z.number().min(0).default(0.01).describe("weight decay (adamw: decoupled, sgd: L2, adam: 0)"),
    ...optimizerFields(),
    ...techniqueFields(),
  }).strict(),
  quick: { gptDepth: 2, gptBatch: 2, warmup: 1 },
  freshProcess: true,
  columns: [
    "technique",
    "model",
    "peakMiB",
    "peakPhase",
    "heldMiB",
    "savedMiB",
    "gradsMiB",
    "restMiB",
    "backwardPeakMiB",
    "backwardPeakPhase",
    "updatePeakMiB",
  ],
  cells: (config) => config.techniques.map((technique) => ({ technique })),
  async runCell(config, cell) {
    const technique = String(cell.technique);
    const corpus = await loadCharCorpus({ name: "moby-dick" });
    const context = GPT_PRESETS.small.context;
    const batch = tokenBatch(
      sampleLmBatch(corpus.train, config.gptBatch, context, new Rng(config.seed)),
      config.gptBatch,
      context,
    );
    const tech = buildTechnique(technique, config);
    if (tech.step) throw new TypeError(`Cannot record a step timeline for "${technique}": it is a whole training step`);
    const probe: Probe = { phase: "forward", layer: "", at: [] };
    const base = tech.prepare(
      createGpt({ ...GPT_PRESETS.small, layers: config.gptDepth, vocab: corpus.vocabSize }, { seed: config.seed }),
    );
    const model = markedModel(base, probe);
    const optimizer = markedOptimizer(
      tech.optimizer(buildOptimizer(config, { lr: config.lr, weightDecay: config.weightDecay })),
      probe,
    );
    const trainer = new Trainer(model, { optimizer, source: tech.source, update: tech.update });
    const m = meter();
    let spans: TimelineSpan[] = [];
    let held = 0;
    let buffers: BufferGroup[] = [];
    try {
      for (let i = 0; i < config.warmup; i++) trainer.step(batch);
      Object.assign(probe, { phase: "forward", root: undefined, last: undefined, grads: undefined, at: [] });
      held = m.live;
      m.resetPeak();
      m.startTimeline();
      probe.at.push({ saved: 0, grads: 0 }); // the "start" span
      buffers = buffersAtPeak(() => trainer.step(batch)).groups;
      spans = m.stopTimeline();
    } finally {
      trainer.dispose();
      tech.dispose();
      disposeTree(model.params);
      disposeBatch(batch);
    }
    const top = (pick: (s: TimelineSpan) => boolean) =>
      spans.reduce<number>((best, s, i) => (pick(s) && (best < 0 || s.peak > spans[best].peak) ? i : best), -1);
    const peak = top(() => true);
    const bwd = top((s) => s.label.startsWith("backward") || s.label.startsWith("recompute"));
    const upd = top((s) => s.label.startsWith("update"));
    const at = probe.at[peak] ?? { saved: 0, grads: 0 };
    return [{
      technique,
      model: `gpt-small-L${config.gptDepth}/B${config.gptBatch}`,
      peakMiB: mib(spans[peak].peak),
      peakPhase: spans[peak].label,
      heldMiB: mib(held),
      savedMiB: mib(at.saved),
      gradsMiB: mib(at.grads),
      restMiB: mib(spans[peak].peak - held - at.saved - at.grads),
      backwardPeakMiB: bwd < 0 ? null : mib(spans[bwd].peak),
      backwardPeakPhase: bwd < 0 ? null : spans[bwd].label,
      updatePeakMiB: upd < 0 ? null : mib(spans[upd].peak),
      spans: spans.length,
      // Allocated in the step and alive at its peak, by dtype and shape, largest first (new parameter and optimizer-state
      // tensors that replaced old ones are among them): "MiB dtype[shape]xcount; ...".
      peakBuffers: buffers.slice(0, 16).map((g) => `${g.mib.toFixed(2)} ${g.dtype}[${g.shape}]x${g.count}`).join("; "),
    }];
  },
  run(config, ctx) {
    return runCellsInOrder(this, config, ctx);
  },
});
