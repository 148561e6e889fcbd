/**
 * `deno run -A tools/guard_cost.ts [backend] [steps]`: the cost of the Trainer's non-finite guard on the tiny GPT
 * (batch 8, context 32): two trainers, guard on and off, stepped alternately on the same batches, with the mean
 * ms/step of each after a warm-up and the median of the paired steps' ratios (on/off of the same batch: robust to
 * the drift of a shared machine). A quick comparison, not a committed result.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../lib/backend/mod.ts";
import { createGpt, GPT_PRESETS } from "../lib/models/mod.ts";
import { adamw } from "../lib/optim/mod.ts";
import { Trainer } from "../lib/train/mod.ts";

const backend = (Deno.args[0] ?? "wasm") as BackendName;
const steps = Number(Deno.args[1] ?? 60);
await initBackend({ backend });
const cfg = { ...GPT_PRESETS.tiny, vocab: 64 };
const on = new Trainer(createGpt(cfg, { seed: 0 }), { optimizer: adamw({ lr: 1e-3 }) });
const off = new Trainer(createGpt(cfg, { seed: 0 }), { optimizer: adamw({ lr: 1e-3 }), guard: false });
const ms = { on: [] as number[], off: [] as number[] };
for (let i = 0; i < steps; i++) {
  const x = tf.randomUniform([8, 32], 0, 64, "int32", i), y = tf.randomUniform([8, 32], 0, 64, "int32", i + 1);
  const order: ("on" | "off")[] = i % 2 ? ["on", "off"] : ["off", "on"];
  for (const name of order) {
    const r = (name === "on" ? on : off).step({ x, y });
    if (i >= 5) ms[name].push(r.ms);
  }
  tf.dispose([x, y]);
}
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const ratios = ms.on.map((v, i) => v / ms.off[i]).sort((a, b) => a - b);
const median = ratios[ratios.length >> 1];
console.log(
  `${backend}, tiny GPT, ${ms.on.length} timed steps each: guard on ${mean(ms.on).toFixed(2)} ms/step, off ${
    mean(ms.off).toFixed(2)
  } ms/step, overhead ${(100 * (mean(ms.on) / mean(ms.off) - 1)).toFixed(1)}% (mean), ${
    (100 * (median - 1)).toFixed(1)
  }% (median of paired steps)`,
);
