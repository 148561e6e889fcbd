/**
 * The cache of output-gradient row norms `‖dy_i‖` per layer and example, from which WTA-CRS's sampling probabilities
 * `p_i ∝ ‖x_i‖·‖dy_i‖` get their second factor (dy of the current backward does not exist at forward time).
 *
 * Unlike the original's epoch-level buffer (indexed by dataset position, zero on every example's first visit, sized
 * for a fixed dataset), entries are keyed by `(tag, example id)` and created on demand, and the cache only ever
 * changes *which* rows are likely to be kept, never the estimator's reweighting: any positive probability gives an
 * unbiased estimate, so a miss (first visit), a stale entry or a cleared cache costs variance, not bias.
 *
 * Each entry keeps the norms of the last backward that wrote it and those of the one before, each with its pass
 * step, and a read for step s returns the newest norms written at a step before s: replaying a step (a checkpoint
 * recompute, a retried or resumed step) reads what the first run of that step read, so it samples the same rows.
 * Norms are held as bfloat16 (2 bytes per row, as the original), counted in the meter's external ledger.
 * @module
 */
import { meter } from "../memory/meter.ts";
import type { Stateful, StateTree } from "../nn/stateful.ts";

interface Version {
  step: number;
  norms: Uint16Array;
}

interface Entry {
  last: Version;
  prev?: Version;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, rounding to nearest even (norms are finite and ≥ 0). */
function toBf16(v: number): number {
  f32[0] = v;
  const bits = u32[0];
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits → float32. */
function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/**
 * Per-layer, per-example cache of the last backward's output-gradient row norms (see the module doc).
 *
 * @example Usage
 * ```ts
 * import { GradNormCache } from "./norm_cache.ts";
 * import assert from "node:assert/strict";
 *
 * const cache = new GradNormCache();
 * cache.write("blocks.0.mlp.fc1.input", 7, 0, Float32Array.of(1, 2, 0));
 * assert.equal(cache.read("blocks.0.mlp.fc1.input", 7, 0, 3), undefined); // written by step 0: not visible to it
 * assert.deepEqual([...cache.read("blocks.0.mlp.fc1.input", 7, 1, 3)!], [1, 2, 0]);
 * cache.dispose();
 * ```
 */
export class GradNormCache implements Stateful {
  readonly #tags = new Map<string, Map<number, Entry>>();
  #bytes = 0;

  /** Bytes held (2 per cached row and version), also in the meter's external ledger. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of (tag, example) entries. */
  get size(): number {
    let n = 0;
    for (const m of this.#tags.values()) n += m.size;
    return n;
  }

  #account(delta: number): void {
    this.#bytes += delta;
    meter().addExternal(delta);
  }

  /**
   * The norms of example `id`'s `rows` rows of `tag` as the newest backward before `step` left them, or `undefined`
   * (never written before `step`, or written with another number of rows).
   */
  read(tag: string, id: number, step: number, rows: number): Float32Array | undefined {
    const e = this.#tags.get(tag)?.get(id);
    if (!e) return undefined;
    const v = e.last.step < step ? e.last : e.prev !== undefined && e.prev.step < step ? e.prev : undefined;
    if (!v || v.norms.length !== rows) return undefined;
    return Float32Array.from(v.norms, fromBf16);
  }

  /** Records the norms of example `id`'s rows of `tag` from the backward of pass step `step`. */
  write(tag: string, id: number, step: number, norms: ArrayLike<number>): void {
    let m = this.#tags.get(tag);
    if (!m) this.#tags.set(tag, m = new Map());
    const v: Version = { step, norms: Uint16Array.from({ length: norms.length }, (_, i) => toBf16(norms[i])) };
    const e = m.get(id);
    if (!e) {
      m.set(id, { last: v });
      this.#account(2 * v.norms.length);
      return;
    }
    const before = 2 * (e.last.norms.length + (e.prev?.norms.length ?? 0));
    if (e.last.step === step) e.last = v; // the same step again (a replay): the older version stays
    else if (e.last.step > step) e.prev = e.prev && e.prev.step > step ? e.prev : v; // an older step, late
    else {
      e.prev = e.last;
      e.last = v;
    }
    this.#account(2 * (e.last.norms.length + (e.prev?.norms.length ?? 0)) - before);
  }

  /**
   * The cache as a state tree for a checkpoint (`Stateful`): per tag, the example ids, each entry's last and previous
   * step (`-1`/length `-1` for no previous version) and row counts, and all norms (bfloat16 bits) back to back.
   */
  stateDict(): StateTree {
    const tags: Record<string, StateTree> = {};
    for (const [tag, m] of this.#tags) {
      const n = m.size, ids = new Float64Array(n), steps = new Float64Array(2 * n), lens = new Int32Array(2 * n);
      let total = 0, i = 0;
      for (const e of m.values()) total += e.last.norms.length + (e.prev?.norms.length ?? 0);
      const norms = new Uint16Array(total);
      let at = 0;
      for (const [id, e] of m) {
        ids[i] = id;
        steps[2 * i] = e.last.step;
        lens[2 * i] = e.last.norms.length;
        norms.set(e.last.norms, at);
        at += e.last.norms.length;
        steps[2 * i + 1] = e.prev?.step ?? -1;
        lens[2 * i + 1] = e.prev ? e.prev.norms.length : -1;
        if (e.prev) {
          norms.set(e.prev.norms, at);
          at += e.prev.norms.length;
        }
        i++;
      }
      tags[tag] = { ids, steps, lens, norms };
    }
    return { tags };
  }

  /**
   * Replaces the cache with a {@linkcode GradNormCache.stateDict} (`Stateful`).
   * @throws {TypeError} when `state` is not such a tree (naming the tag).
   */
  loadStateDict(state: StateTree): void {
    const s = state as { tags?: Record<string, unknown> } | null;
    if (s === null || typeof s !== "object" || s.tags === null || typeof s.tags !== "object") {
      throw new TypeError("Cannot load WTA-CRS norm cache: 'state' must be a GradNormCache.stateDict() tree");
    }
    const next = new Map<string, Map<number, Entry>>();
    let bytes = 0;
    for (const [tag, v] of Object.entries(s.tags)) {
      const t = v as { ids?: unknown; steps?: unknown; lens?: unknown; norms?: unknown };
      const bad = () => new TypeError(`Cannot load WTA-CRS norm cache: the entries of "${tag}" are malformed`);
      if (
        !(t.ids instanceof Float64Array && t.steps instanceof Float64Array && t.lens instanceof Int32Array &&
          t.norms instanceof Uint16Array) || t.steps.length !== 2 * t.ids.length || t.lens.length !== 2 * t.ids.length
      ) throw bad();
      const m = new Map<number, Entry>();
      let at = 0;
      const take = (len: number, step: number): Version => {
        if (len < 0 || at + len > (t.norms as Uint16Array).length || !Number.isFinite(step)) throw bad();
        const norms = (t.norms as Uint16Array).slice(at, at + len);
        at += len;
        bytes += 2 * len;
        return { step, norms };
      };
      for (let i = 0; i < t.ids.length; i++) {
        const last = take(t.lens[2 * i], t.steps[2 * i]);
        const prev = t.lens[2 * i + 1] < 0 ? undefined : take(t.lens[2 * i + 1], t.steps[2 * i + 1]);
        m.set(t.ids[i], prev ? { last, prev } : { last });
      }
      if (at !== t.norms.length) throw bad();
      next.set(tag, m);
    }
    this.clear();
    for (const [tag, m] of next) this.#tags.set(tag, m);
    this.#account(bytes);
  }

  /** Forgets everything (the next reads miss). */
  clear(): void {
    this.#tags.clear();
    this.#account(-this.#bytes);
  }

  /** Frees the cache (same as {@linkcode GradNormCache.clear}). */
  dispose(): void {
    this.clear();
  }
}
