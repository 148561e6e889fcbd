/**
 * Fixture of `blas_determinism_test.ts` and `heap_arena_gpt_test.ts`: trains a small GPT on the backend named by
 * `argv[0]` (the heap arena's default plan unless `heap=<mode>` is given; with `after-other` it first trains another
 * model, so the arena holds another plan and other holes) with checkpoint('every') + WTA-CRS + AdamW, and prints the losses, a SHA-256 of every parameter's bits and
 * how many blocks the arena placed by its plan.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, type HeapMode, heapTracker, initBackend } from "../../lib/backend/mod.ts";
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

/** What {@linkcode trainInProcess} returns: the losses, the parameters' SHA-256 and the blocks the arena planned. */
export interface Trained {
  losses: number[];
  hash: string;
  planned: number;
}

/**
 * Runs this fixture in a fresh process: `backend`, then `"after-other"` (train another model first) and/or
 * `"heap=<mode>"` (the heap option). A fresh process is the only place where another test file's BLAS calls cannot
 * change the OpenBLAS thread count under the run: the count is global to the process, `deno test --parallel` runs
 * every test file in one process, and OpenBLAS 0.3.21's sums differ with the thread count.
 */
export async function trainInProcess(backend: string, ...extra: string[]): Promise<Trained> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, backend, ...extra],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`fixture failed: ${new TextDecoder().decode(out.stderr)}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

if (import.meta.main) {
  const heap = Deno.args.find((a) => a.startsWith("heap="))?.slice("heap=".length) as HeapMode | undefined;
  await initBackend({ backend: Deno.args[0] as BackendName, ...(heap ? { heap } : {}) });
  if (Deno.args.includes("after-other")) await trainBits(3);
  const bits = await trainBits(2);
  console.log(JSON.stringify({ ...bits, planned: heapTracker()?.arena?.stats.planned ?? 0 }));
}
