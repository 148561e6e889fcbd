/** `Batch.rows` (per-example ids and padding) reaches every SavedInfo through backprop and every derived Context. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { type ActivationPolicy, Context, keepPolicy, type SavedInfo, SavedStore } from "../../lib/nn/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { checkpoint } from "../../lib/checkpoint/mod.ts";

function recording(seen: SavedInfo[]): ActivationPolicy {
  return {
    ...keepPolicy,
    pack: (t: tf.Tensor, info: SavedInfo) => (seen.push(info), keepPolicy.pack(t, info)),
  } as ActivationPolicy;
}

Deno.test("Context puts its rows into every SavedInfo, through child, withStore and withSelector", () => {
  const rows = { ids: Int32Array.of(4, 9), live: Uint8Array.of(1, 1, 1, 0) };
  const seen: SavedInfo[] = [];
  const policy = recording(seen);
  const ctx = new Context({ params: {}, rows, selector: () => policy, key: { step: 3, seed: 1 } });
  const t = tf.ones([2, 2]);
  ctx.child("a").save("x", t, "linear.input");
  ctx.withStore(new SavedStore()).withSelector(() => policy).child("b").save("x", t, "linear.input");
  new Context({ params: {}, selector: () => policy }).save("c", t, "linear.input");
  assert.equal(seen[0].rows, rows);
  assert.equal(seen[1].rows, rows);
  assert.equal(seen[1].tag, "b.x");
  assert.equal(seen[2].rows, undefined);
  assert.equal("rows" in seen[2], false);
  ctx.store.dispose();
  t.dispose();
});

Deno.test("backprop copies batch.rows into the pass, also into a checkpoint recompute", () => {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 8, context: 4 }, { seed: 0 });
  const batch = { x: tf.zeros([2, 4], "int32"), y: tf.ones([2, 4], "int32"), rows: { ids: Int32Array.of(1, 2) } };
  for (const trunk of [undefined, checkpoint("every")]) {
    const seen: SavedInfo[] = [];
    const policy = recording(seen);
    const r = backprop({ selector: () => policy, ...(trunk ? { trunk } : {}) }).lossAndGrads(gpt, batch);
    assert.ok(seen.length > 10);
    for (const info of seen) assert.equal(info.rows, batch.rows, info.tag);
    tf.dispose(Object.values(r.grads));
  }
  tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
});
