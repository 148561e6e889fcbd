/**
 * A pre-LN Transformer block run on one chunk of the sequence against cached keys and values of the rows before it:
 * the forward takes the chunk's input rows and the prefix's K/V, and the backward returns the gradient of the chunk's
 * input rows plus the prefix's K/V gradient separately (to be accumulated, not propagated at once). Written from the
 * block's public parts (its `ln1`, `attn.qkv`, `attn.proj`, `ln2`, `mlp`, `attn.heads`, `attn.headDim`) and the
 * layers' kernels, with the tags and roles of {@linkcode TransformerBlock}'s own forward, so a policy selector sees
 * the same saved tensors as in plain backprop.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "../nn/context.ts";
import type { TransformerBlock } from "../nn/block.ts";
import { attentionProbs, mergeHeads, softmaxGrad, splitHeads } from "../nn/_fused.ts";

/** Keys and values of some rows, each `[B, H, rows, dh]`. */
export interface KeyValues {
  /** Keys. */
  k: tf.Tensor;
  /** Values. */
  v: tf.Tensor;
}

/** What {@linkcode kvBlockForward} returns; the caller owns the tensors. */
export interface KvForward {
  /** The block output of the chunk's rows, `[B, c, D]`. */
  y: tf.Tensor;
  /** The chunk's own keys and values, `[B, H, c, dh]` each (to extend the cache). */
  kv: KeyValues;
}

/** What {@linkcode kvBlockBackward} returns; the caller owns the tensors. */
export interface KvBackward {
  /** The gradient of the chunk's input rows, `[B, c, D]` (complete when `own` held every later chunk's part). */
  dx: tf.Tensor;
  /** The gradient of the prefix's keys and values, `[B, H, s, dh]` each; null when the chunk starts at row 0. */
  dPast: KeyValues | null;
}

/** Options for {@linkcode kvBlockForward}. */
export interface KvForwardOptions {
  /**
   * `prefix` already holds the chunk's own keys and values as its last `c` rows (a cache of the rows `0..e-1`):
   * attention reads it as it is, and the chunk's recomputed keys/values are not concatenated to it (they equal those
   * rows). @default {false}
   */
  includesChunk?: boolean;
}

/**
 * Block forward of the rows `s..e-1` given as `x [B, c, D]` (c = e − s) against `prefix`, the keys and values of the
 * rows `0..s-1` (`[B, H, s, dh]`, or null when s = 0; with `includesChunk`, of the rows `0..e-1`): queries,
 * residual, norms and MLP run on the chunk's rows only, attention reads the keys and values of all `e` rows with the
 * causal mask aligned bottom right. Equals the rows `s..e-1` of the full block's forward. Saves through `ctx` what
 * {@linkcode kvBlockBackward} needs (the chunk's LayerNorm/Linear/GELU inputs, q `[B, H, c, dh]`, k and v of all `e`
 * rows, and p `[B, H, c, e]`).
 *
 * @example One chunk against the keys/values of the rows before it
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { kvBlockForward } from "./kv_block.ts";
 * import { Context, SavedStore, TransformerBlock } from "../nn/mod.ts";
 * import { initParams } from "../models/init.ts";
 * import assert from "node:assert/strict";
 *
 * const block = new TransformerBlock("blk", { dim: 8, heads: 2 });
 * const ctx = new Context({ params: initParams(block.paramSpecs(), 0) }); // parameter paths relative to the block
 * const x = tf.randomNormal([1, 6, 8]);
 * const first = kvBlockForward(block, x.slice([0, 0, 0], [1, 4, 8]), null, ctx.withStore(new SavedStore()));
 * const second = kvBlockForward(block, x.slice([0, 4, 0], [1, 2, 8]), first.kv, ctx.withStore(new SavedStore()));
 * assert.deepEqual(second.y.shape, [1, 2, 8]); // rows 4..5, attending to the keys of rows 0..5
 * ```
 */
export function kvBlockForward(
  block: TransformerBlock,
  x: tf.Tensor,
  prefix: KeyValues | null,
  ctx: Context,
  options: KvForwardOptions = {},
): KvForward {
  const attn = block.attn;
  const [b, c] = x.shape;
  const h = attn.heads, dh = attn.headDim;
  if (options.includesChunk && !prefix) {
    throw new TypeError("kvBlockForward: 'includesChunk' needs the keys/values of the rows 0..e-1 as 'prefix'");
  }
  return tf.tidy(() => {
    const actx = ctx.child(attn.name);
    const a = block.ln1.forward(x, ctx.child(block.ln1.name)); // [B, c, D]
    const qkv = attn.qkv.forward(a, actx.child(attn.qkv.name)); // [B, c, 3D]
    const [q, k, v] = splitHeads(qkv, h, 3); // each [B, H, c, dh]
    const kAll = options.includesChunk ? prefix!.k : prefix ? tf.concat([prefix.k, k], 2) : k; // [B, H, e, dh]
    const vAll = options.includesChunk ? prefix!.v : prefix ? tf.concat([prefix.v, v], 2) : v;
    const e = kAll.shape[2] as number;
    actx.save("q", q, "attn.q", 1);
    actx.save("k", kAll, "attn.k", 1);
    actx.save("v", vAll, "attn.v", 1);
    const scores = tf.matMul(q.reshape([b * h, c, dh]), kAll.reshape([b * h, e, dh]), false, true); // [BH, c, e]
    const p = attentionProbs(scores, 1 / Math.sqrt(dh), attn.causal); // bottom-right causal mask
    scores.dispose();
    actx.save("p", p.reshape([b, h, c, e]), "softmax.output", 1);
    const o = tf.matMul(p, vAll.reshape([b * h, e, dh])); // [BH, c, dh]
    p.dispose();
    const out = attn.proj.forward(mergeHeads([o], b, h), actx.child(attn.proj.name)); // [B, c, D]
    const hid = tf.add(x, out);
    const mlp = block.mlp.forward(block.ln2.forward(hid, ctx.child(block.ln2.name)), ctx.child(block.mlp.name));
    return { y: tf.add(hid, mlp), kv: { k, v } };
  });
}

/**
 * Backward of {@linkcode kvBlockForward} for the output gradient `dy [B, c, D]` of the chunk's rows. `own` is the
 * gradient already collected for the chunk's own keys and values from later chunks (`[B, H, c, dh]`, or null), which
 * is added before it flows into the q/k/v projection. Accumulates the block's parameter gradients into `ctx`.
 * Attention's `[B·H, c, e]` tensors are freed as soon as they are used, so at most two are live.
 *
 * @example Usage
 * ```ts ignore
 * const { dx, dPast } = kvBlockBackward(block, dy, own, ctx); // after kvBlockForward(block, x, past, ctx)
 * ```
 */
export function kvBlockBackward(
  block: TransformerBlock,
  dy: tf.Tensor,
  own: KeyValues | null,
  ctx: Context,
): KvBackward {
  const attn = block.attn;
  const [b, c] = dy.shape;
  const h = attn.heads, dh = attn.headDim;
  const out = tf.tidy(() => {
    const actx = ctx.child(attn.name);
    const dmlp = block.mlp.backward(dy, ctx.child(block.mlp.name))!;
    const dhid = tf.add(dy, block.ln2.backward(dmlp, ctx.child(block.ln2.name))); // [B, c, D]
    const dmerged = attn.proj.backward(dhid, actx.child(attn.proj.name)); // [B, c, D]
    const dout = splitHeads(dmerged, h, 1)[0].reshape([b * h, c, dh]); // [BH, c, dh]
    const p4 = actx.load("p"); // [B, H, c, e]
    const e = p4.shape[3] as number, s = e - c;
    const p = p4.reshape([b * h, c, e]);
    const v = actx.load("v").reshape([b * h, e, dh]);
    const dp = tf.matMul(dout, v, false, true); // [BH, c, e]
    const dv = tf.matMul(p, dout, true, false).reshape([b, h, e, dh]);
    const ds = softmaxGrad(p, dp, 1 / Math.sqrt(dh)); // [BH, c, e]
    tf.dispose([p4, p, dp]);
    const q = actx.load("q").reshape([b * h, c, dh]);
    const k = actx.load("k").reshape([b * h, e, dh]);
    const dq = tf.matMul(ds, k); // [BH, c, dh]
    const dk = tf.matMul(ds, q, true, false).reshape([b, h, e, dh]);
    ds.dispose();
    const rows = (t: tf.Tensor, from: number, n: number) => t.slice([0, 0, from, 0], [b, h, n, dh]);
    let dkOwn = s === 0 ? dk : rows(dk, s, c), dvOwn = s === 0 ? dv : rows(dv, s, c); // [B, H, c, dh]
    const past = s === 0 ? [] : [rows(dk, 0, s), rows(dv, 0, s)];
    if (s > 0) tf.dispose([dk, dv]);
    if (own) {
      dkOwn = tf.add(dkOwn, own.k);
      dvOwn = tf.add(dvOwn, own.v);
    }
    const da = attn.qkv.backward(mergeHeads([dq, dkOwn, dvOwn], b, h), actx.child(attn.qkv.name)); // [B, c, D]
    const dx = tf.add(dhid, block.ln1.backward(da, ctx.child(block.ln1.name)));
    return [dx, ...past];
  });
  return { dx: out[0], dPast: out.length === 1 ? null : { k: out[1], v: out[2] } };
}

/**
 * The keys and values of the rows `x [B, c, D]` alone (`[B, H, c, dh]` each): the block's `ln1` and q/k/v projection,
 * run with `ctx` (give it a discarding selector: nothing is needed for a backward).
 *
 * @example Usage
 * ```ts ignore
 * const { k, v } = kvBlockKeys(block, xChunk, ctx.withSelector(discardAll).withStore(new SavedStore()));
 * ```
 */
export function kvBlockKeys(block: TransformerBlock, x: tf.Tensor, ctx: Context): KeyValues {
  const attn = block.attn;
  const [k, v] = tf.tidy(() => {
    const a = block.ln1.forward(x, ctx.child(block.ln1.name));
    const [, k, v] = splitHeads(attn.qkv.forward(a, ctx.child(attn.name).child(attn.qkv.name)), attn.heads, 3);
    return [k, v];
  });
  return { k, v };
}
