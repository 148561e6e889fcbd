/**
 * Fixture of `blas_determinism_test.ts`: trains a small GPT on the backend named by `argv[0]` (the heap arena's
 * default plan; `argv[1] === "after-other"` first trains another model, so the arena holds another plan and other
 * holes) with checkpoint('every') + WTA-CRS + AdamW, and prints the losses, a SHA-256 of every parameter's bits and
 * how many blocks the arena placed by its plan.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, heapTracker, initBackend } from "../../lib/backend/mod.ts";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { Trainer } from "../../lib/train/mod.ts";
import { wtacrs } from "../../lib/wtacrs/mod.ts";

/**
 * Five steps over recurring examples (WTA-CRS reads the norms the earlier backwards cached); matmuls of 8M
 * multiply-adds take OpenBLAS's threaded path, activations of 512 KiB the arena's planned one.
 */
export async function trainBits(layers: number): Promise<{ losses: number[]; hash: string }> {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 40, layers }, { seed: 1 });
  const w = wtacrs({ ratio: 0.3, seed: 3 });
  const source = backprop({ selector: w.selector, trunk: checkpoint("every") });
  const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }), source });
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const x = tf.randomUniform([16, 32], 0, 40, "int32", 5 + (i % 2)),
      y = tf.randomUniform([16, 32], 0, 40, "int32", 7);
    const ids = Int32Array.from({ length: 16 }, (_, j) => (j + 3 * (i % 2)) % 16);
    losses.push(trainer.step({ x, y, rows: { ids } }).loss);
    tf.dispose([x, y]);
  }
  const parts = Object.keys(gpt.params).sort().map((k) => Float32Array.from(gpt.params[k].dataSync()));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    all.set(new Uint8Array(p.buffer), at);
    at += p.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  trainer.dispose();
  w.dispose();
  tf.dispose(Object.values(gpt.params));
  return { losses, hash: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("") };
}

if (import.meta.main) {
  await initBackend({ backend: Deno.args[0] as BackendName });
  if (Deno.args[1] === "after-other") await trainBits(3);
  const bits = await trainBits(2);
  console.log(JSON.stringify({ ...bits, planned: heapTracker()?.arena?.stats.planned ?? 0 }));
}
