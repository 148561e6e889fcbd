/**
 * One Transformer block streamed along the sequence, chunk by chunk, forward and backward, in the two ways StreamBP
 * can get the keys and values of a chunk's prefix:
 * - `"cache"`: each row's keys/values are computed once per pass of the block (the forward extends a cache chunk by
 *   chunk; the backward rebuilds it once, then walks the chunks from the last to the first, with an accumulator for
 *   the prefix's key/value gradient, so a chunk's own rows are complete when it is reached);
 * - `"recompute"`: the original code's way, the block's slice forward `block.forward(x[0:e], ctx, s)` recomputes the
 *   prefix's keys/values for every chunk, and the backward propagates each chunk's gradient into all `e` rows.
 *
 * Neither materialises the block's activations for the whole sequence, nor any `[B, H, T, T]` tensor: the largest
 * attention tensors are `[B, H, c, e]` for a chunk of `c` rows ending at row `e`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TransformerBlock } from "../nn/block.ts";
import { type Context, SavedStore } from "../nn/context.ts";
import { discardAll } from "../nn/policy.ts";
import { accumulate, chunkContext, mergeGrads } from "./accumulate.ts";
import type { ChunkRange } from "./chunks.ts";
import { type KeyValues, type KvBackward, kvBlockBackward, kvBlockForward, kvBlockKeys } from "./kv_block.ts";

/** How a chunk gets the keys and values of the rows before it (see the module doc). */
export type KvMode = "cache" | "recompute";

function rows3(x: tf.Tensor, start: number, end: number): tf.Tensor {
  const [b, , d] = x.shape;
  return x.slice([0, start, 0], [b, end - start, d]);
}

function rows4(x: tf.Tensor, start: number, end: number): tf.Tensor {
  const [b, h, , dh] = x.shape;
  return x.slice([0, 0, start, 0], [b, h, end - start, dh]);
}

function disposeKv(kv: KeyValues | null): void {
  if (kv) tf.dispose([kv.k, kv.v]);
}

function concatRows(parts: tf.Tensor[]): tf.Tensor {
  return parts.length === 1 ? parts[0].clone() : tf.concat(parts, parts[0].rank - 2);
}

/**
 * Runs `f` with a fresh store and, for a backward (`mustEmpty`), the chunk's own gradient map, which is then added
 * into `ctx`'s running sums ({@linkcode mergeGrads}); throws if a backward left something saved.
 */
function withStore<T>(ctx: Context, where: string, mustEmpty: boolean, f: (c: Context) => T): T {
  const store = new SavedStore();
  const chunk = mustEmpty ? chunkContext(ctx, store) : { ctx: ctx.withStore(store), grads: null };
  try {
    const out = f(chunk.ctx);
    if (mustEmpty && store.size !== 0) {
      throw new Error(
        `StreamBP: ${where}: ${store.size} recomputed tensors were never used (${store.report()[0].tag})`,
      );
    }
    if (chunk.grads) mergeGrads(ctx.grads, chunk.grads);
    return out;
  } catch (e) {
    if (chunk.grads) tf.dispose(Object.values(chunk.grads));
    throw e;
  } finally {
    store.dispose();
  }
}

/**
 * The block's forward on `x [B, T, D]`, chunk by chunk, saving nothing (`ctx` runs with a discarding selector): the
 * output `[B, T, D]` equals `block.forward(x)` up to float32 rounding.
 *
 * @example Usage
 * ```ts ignore
 * const y = streamBlockForward(block, x, ctx.child(block.name), chunkRanges(T, 64), "cache");
 * ```
 */
export function streamBlockForward(
  block: TransformerBlock,
  x: tf.Tensor,
  ctx: Context,
  chunks: readonly ChunkRange[],
  kv: KvMode,
): tf.Tensor {
  const fctx = ctx.withSelector(discardAll);
  const outs: tf.Tensor[] = [];
  let past: KeyValues | null = null;
  try {
    chunks.forEach(({ start, end }, i) => {
      withStore(fctx, "forward", false, (c) => {
        if (kv === "recompute") {
          const xe = rows3(x, 0, end);
          outs.push(block.forward(xe, c, start));
          xe.dispose();
          return;
        }
        const xc = rows3(x, start, end);
        const r = kvBlockForward(block, xc, past, c);
        xc.dispose();
        outs.push(r.y);
        if (i === chunks.length - 1) {
          disposeKv(r.kv); // no later chunk reads this one's keys/values
        } else if (!past) {
          past = r.kv;
        } else {
          const next: KeyValues = { k: tf.concat([past.k, r.kv.k], 2), v: tf.concat([past.v, r.kv.v], 2) };
          disposeKv(past);
          disposeKv(r.kv);
          past = next;
        }
      });
    });
    return concatRows(outs);
  } finally {
    disposeKv(past);
    tf.dispose(outs);
  }
}

/**
 * The block's backward for the output gradient `dy [B, T, D]` of the block input `x [B, T, D]`: for each chunk from
 * the last to the first, the chunk's forward is recomputed with `ctx`'s selector into a store of its own, then
 * backpropagated; parameter gradients accumulate into `ctx`. Returns the input gradient `[B, T, D]`.
 *
 * @example Usage
 * ```ts ignore
 * const dx = streamBlockBackward(block, x, dy, ctx.child(block.name), chunkRanges(T, 64), "cache");
 * ```
 */
export function streamBlockBackward(
  block: TransformerBlock,
  x: tf.Tensor,
  dy: tf.Tensor,
  ctx: Context,
  chunks: readonly ChunkRange[],
  kv: KvMode,
): tf.Tensor {
  return kv === "cache" ? cachedBackward(block, x, dy, ctx, chunks) : recomputeBackward(block, x, dy, ctx, chunks);
}

function cachedBackward(
  block: TransformerBlock,
  x: tf.Tensor,
  dy: tf.Tensor,
  ctx: Context,
  chunks: readonly ChunkRange[],
): tf.Tensor {
  const n = chunks.length;
  const dxs: tf.Tensor[] = [];
  let cache: KeyValues | null = null; // keys/values of the rows [0, end) of the current chunk
  let acc: KeyValues | null = null; // gradient of those keys/values collected from later chunks
  try {
    // The keys/values of every row, once: chunk by chunk (no [B, T, 3D] projection at once), then one tensor each.
    const kctx = ctx.withSelector(discardAll);
    const pieces: KeyValues[] = [];
    try {
      for (const { start, end } of chunks) {
        pieces.push(withStore(kctx, "keys", false, (c) => {
          const xc = rows3(x, start, end);
          try {
            return kvBlockKeys(block, xc, c);
          } finally {
            xc.dispose();
          }
        }));
      }
      cache = { k: concatRows(pieces.map((p) => p.k)), v: concatRows(pieces.map((p) => p.v)) };
    } finally {
      pieces.forEach(disposeKv);
    }
    for (let i = n - 1; i >= 0; i--) {
      const { start, end } = chunks[i];
      let own: KeyValues | null = null, accPast: KeyValues | null = null;
      if (acc) {
        own = { k: rows4(acc.k, start, end), v: rows4(acc.v, start, end) };
        if (start > 0) accPast = { k: rows4(acc.k, 0, start), v: rows4(acc.v, 0, start) };
        disposeKv(acc);
        acc = null;
      }
      const kv: KeyValues = cache!;
      const r: KvBackward = withStore(ctx, `backward of "${ctx.at("")}" rows [${start}, ${end})`, true, (c) => {
        const xc = rows3(x, start, end), dyc = rows3(dy, start, end);
        try {
          const f = kvBlockForward(block, xc, kv, c, { includesChunk: true });
          tf.dispose([f.y, f.kv.k, f.kv.v]);
          return kvBlockBackward(block, dyc, own, c);
        } finally {
          tf.dispose([xc, dyc]);
          disposeKv(own);
        }
      });
      dxs.unshift(r.dx);
      if (r.dPast && accPast) {
        acc = { k: accumulate(accPast.k, r.dPast.k), v: accumulate(accPast.v, r.dPast.v) }; // into accPast's buffers
        disposeKv(accPast);
        disposeKv(r.dPast);
      } else {
        acc = r.dPast;
        disposeKv(accPast);
      }
      // The next chunk (i − 1) reads the keys/values of the rows [0, start).
      cache = start > 0 ? { k: rows4(kv.k, 0, start), v: rows4(kv.v, 0, start) } : null;
      disposeKv(kv);
    }
    return concatRows(dxs);
  } finally {
    disposeKv(cache);
    disposeKv(acc);
    tf.dispose(dxs);
  }
}

function recomputeBackward(
  block: TransformerBlock,
  x: tf.Tensor,
  dy: tf.Tensor,
  ctx: Context,
  chunks: readonly ChunkRange[],
): tf.Tensor {
  const dxs: tf.Tensor[] = [];
  let acc: tf.Tensor | null = null; // input gradient of rows [0, end) collected from later chunks
  try {
    for (let i = chunks.length - 1; i >= 0; i--) {
      const { start, end } = chunks[i];
      const dxe = withStore(ctx, `backward of "${ctx.at("")}" rows [${start}, ${end})`, true, (c) => {
        const xe = rows3(x, 0, end), dyc = rows3(dy, start, end);
        try {
          block.forward(xe, c, start).dispose();
          return block.backward(dyc, c); // [B, end, D]
        } finally {
          tf.dispose([xe, dyc]);
        }
      });
      let total = dxe;
      if (acc) {
        total = tf.add(acc, dxe);
        tf.dispose([acc, dxe]);
        acc = null;
      }
      dxs.unshift(rows3(total, start, end));
      if (start > 0) acc = rows3(total, 0, start);
      total.dispose();
    }
    return concatRows(dxs);
  } finally {
    acc?.dispose();
    tf.dispose(dxs);
  }
}
