/**
 * Mesa's randomness comes from the pass key: replaying a forward with the same `{ step, seed }` packs bit-identical
 * tensors (codes and ranges) and does not fold the batch into the running ranges twice; another step draws other
 * noise.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { mesa, type MesaPacked } from "../../lib/mesa/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { Context, type ForwardKey, SavedStore, Sequence } from "../../lib/nn/mod.ts";
import { testOnBackends } from "../_util/backends.ts";

function packedBits(store: SavedStore): Map<string, number[][]> {
  const out = new Map<string, number[][]>();
  for (const row of store.report()) {
    const e = store.take(row.tag);
    if (e.policy.name.startsWith("mesa")) {
      const p = e.packed as MesaPacked;
      const f32 = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
      out.set(row.tag, [Array.from(p.bytes.dataSync()), f32(p.alpha), f32(p.beta)]);
    }
    e.policy.dispose(e.packed);
  }
  return out;
}

testOnBackends("a Mesa forward replayed with the same { step, seed } packs bit-identical tensors", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 3 });
  const m = mesa({ grouping: "head-wise" });
  const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]], [2, 8], "int32");
  const trunk = new Sequence("", gpt.layers);
  const pass = (key: ForwardKey) => {
    const store = new SavedStore();
    trunk.forward(x, new Context({ params: gpt.params, selector: m.selector, store, key })).dispose();
    return packedBits(store);
  };
  const first = pass({ step: 5, seed: 11 });
  const updates = m.state.get("blocks.0.attn.q")!.updates;
  const replay = pass({ step: 5, seed: 11 });
  assert.ok(first.size >= 10, `Mesa packed ${first.size} tensors`);
  assert.deepEqual([...replay.keys()], [...first.keys()]);
  for (const [tag, parts] of first) assert.deepEqual(replay.get(tag), parts, `${tag} differs on replay`);
  assert.equal(m.state.get("blocks.0.attn.q")!.updates, updates, "a replay must not fold the batch in again");

  // A new step folds in and draws new noise (same ranges here after the fold would be a coincidence).
  const next = pass({ step: 6, seed: 11 });
  assert.equal(m.state.get("blocks.0.attn.q")!.updates, updates + 1);
  let differing = 0;
  for (const [tag, parts] of first) if (JSON.stringify(next.get(tag)![0]) !== JSON.stringify(parts[0])) differing++;
  assert.equal(differing, first.size, "every tensor's codes change with the step");
  // So does another seed at the same step.
  const other = pass({ step: 6, seed: 12 });
  for (const [tag, parts] of next) assert.notDeepEqual(other.get(tag)![0], parts[0], `${tag}: seed ignored`);

  m.dispose();
  tf.dispose([x, ...Object.values(gpt.params)]);
});

testOnBackends(
  "checkpoint + Mesa: the recompute draws the forward's numbers, so gradients equal plain Mesa's bitwise",
  async () => {
    const { checkpoint } = await import("../../lib/checkpoint/mod.ts");
    const { backprop } = await import("../../lib/train/backprop.ts");
    const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8, layers: 3 }, { seed: 4 });
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]], [2, 8], "int32");
    const y = tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [7, 6, 5, 4, 3, 2, 1, 0]], [2, 8], "int32");
    const run = (trunk?: ReturnType<typeof checkpoint>) => {
      const m = mesa({ grouping: "per-tensor" });
      const r = backprop({ selector: m.selector, ...(trunk ? { trunk } : {}) });
      const out = [2, 3].map((step) => r.lossAndGrads(gpt, { x, y }, { key: { step, seed: 1 } }));
      m.dispose();
      return out;
    };
    const plain = run(), ckpt = run(checkpoint("every"));
    for (let i = 0; i < plain.length; i++) {
      assert.equal(ckpt[i].loss, plain[i].loss);
      for (const k of Object.keys(gpt.params)) {
        const a = new Uint32Array(Float32Array.from(plain[i].grads[k].dataSync()).buffer);
        const b = new Uint32Array(Float32Array.from(ckpt[i].grads[k].dataSync()).buffer);
        assert.deepEqual(b, a, `step ${i}: ${k}`);
      }
    }
    for (const r of [...plain, ...ckpt]) tf.dispose(Object.values(r.grads));
    tf.dispose([x, y, ...Object.values(gpt.params)]);
  },
);
