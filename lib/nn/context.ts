/**
 * The saved-context layers use between forward and backward.
 *
 * A {@linkcode Context} is a view on one {@linkcode SavedStore} at a path (`"blocks.0.attn"`). Forward calls
 * `save(name, t, role)`; the store packs `t` through the selector's policy under the tag `path.name`. Backward calls
 * `load(name)`, which unpacks and frees the packed form at once, so memory falls as backward proceeds. Parameters
 * are read with `param(name)` from the shared {@linkcode ParamProvider} and gradients summed with `accumulate`; the
 * pass's {@linkcode ForwardKey} (`{ step, seed }`) goes into every saved tensor's info.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Grads, Params } from "./params.ts";
import {
  type ActivationPolicy,
  type BatchRows,
  DEFAULT_FORWARD_KEY,
  type ForwardKey,
  keepAll,
  type PolicySelector,
  type SavedInfo,
  type SavedRole,
} from "./policy.ts";
import { isParamProvider, type ParamProvider, paramsProvider } from "./provider.ts";

/** One saved tensor as held by the store. */
export interface SavedEntry {
  /** The policy that packed it. */
  policy: ActivationPolicy;
  /** The packed form. */
  packed: unknown;
  /** Where it came from. */
  info: SavedInfo;
  /** Shape of the tensor before packing. */
  shape: number[];
  /** Dtype before packing. */
  dtype: tf.DataType;
}

/** A row of {@linkcode SavedStore.report}: what is held for backward, like JAX's `saved_residuals`. */
export interface SavedReportRow {
  /** Where it was saved, e.g. `"blocks.0.attn.q"`. */
  tag: string;
  /** Its role, e.g. `"attn.q"`. */
  role: string;
  /** The policy that packed it, e.g. `"keep"`. */
  policy: string;
  /** Shape before packing. */
  shape: number[];
  /** Dtype before packing. */
  dtype: tf.DataType;
  /** Bytes the packed form holds. */
  bytes: number;
}

/** Holds everything saved for backward during one step. */
export class SavedStore {
  readonly #entries = new Map<string, SavedEntry>();

  /** Packs `t` with `policy` under `info.tag`. Throws if the tag is already taken. */
  put(t: tf.Tensor, info: SavedInfo, policy: ActivationPolicy): void {
    if (this.#entries.has(info.tag)) {
      throw new Error(`Cannot save "${info.tag}": a tensor is already saved under this tag`);
    }
    const packed = policy.pack(t, info);
    this.#entries.set(info.tag, { policy, packed, info, shape: t.shape.slice(), dtype: t.dtype });
  }

  /** Removes and returns an entry; the caller must `entry.policy.dispose(entry.packed)`. */
  take(tag: string): SavedEntry {
    const e = this.#entries.get(tag);
    if (!e) throw new Error(`Cannot load "${tag}": nothing was saved under this tag (was forward run?)`);
    this.#entries.delete(tag);
    return e;
  }

  /** True when something is saved under `tag`. */
  has(tag: string): boolean {
    return this.#entries.has(tag);
  }

  /** Number of saved entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held by all packed entries, as the policies report them. */
  bytes(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.policy.bytes(e.packed);
    return n;
  }

  /** One row per saved tensor. */
  report(): SavedReportRow[] {
    return [...this.#entries.values()].map((e) => ({
      tag: e.info.tag,
      role: e.info.role,
      policy: e.policy.name,
      shape: e.shape,
      dtype: e.dtype,
      bytes: e.policy.bytes(e.packed),
    }));
  }

  /** Frees everything still held (e.g. after a forward-only pass or an aborted step). */
  dispose(): void {
    for (const e of this.#entries.values()) e.policy.dispose(e.packed);
    this.#entries.clear();
  }
}

/** Options for {@linkcode Context}. */
export interface ContextOptions {
  /** Parameters by path: the model's map, or a {@linkcode ParamProvider} (e.g. a wrapped one computing on read). */
  params: Params | ParamProvider;
  /** Where saved tensors go. @default {a new SavedStore} */
  store?: SavedStore;
  /** Picks a policy per saved tensor. @default {keepAll} */
  selector?: PolicySelector;
  /** Gradient accumulator (keys are parameter paths). @default {{}} */
  grads?: Grads;
  /** Path prefix of this view. @default {""} */
  path?: string;
  /** Whether gradients are wanted for parameters (false in inference). @default {true} */
  training?: boolean;
  /** The pass's key, copied into every {@linkcode SavedInfo}. @default {DEFAULT_FORWARD_KEY} */
  key?: ForwardKey;
  /** The batch's per-example facts (`Batch.rows`), put into every {@linkcode SavedInfo}. @default {undefined} */
  rows?: BatchRows;
}

/**
 * A view on the saved store, parameters and gradients at one layer path.
 *
 * @example A layer's forward and backward through a context
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { Context } from "./context.ts";
 * import { Linear } from "./linear.ts";
 * import assert from "node:assert/strict";
 *
 * const fc = new Linear("fc", 2, 3);
 * const params = { "fc.w": tf.ones([2, 3]), "fc.b": tf.zeros([3]) };
 * const ctx = new Context({ params, key: { step: 5, seed: 1 } });
 * const y = fc.forward(tf.ones([4, 2]), ctx.child("fc"));
 * assert.deepEqual(ctx.store.report().map((r) => r.tag), ["fc.input"]);
 * fc.backward(tf.onesLike(y), ctx.child("fc"));
 * assert.deepEqual(Object.keys(ctx.grads).sort(), ["fc.b", "fc.w"]);
 * ```
 */
export class Context {
  /** Where parameters are read from (shared by all views). */
  readonly provider: ParamProvider;
  /** Saved tensors (shared by all views unless replaced with {@linkcode Context.withStore}). */
  readonly store: SavedStore;
  /** The policy selector for this view. */
  readonly selector: PolicySelector;
  /** Gradient accumulator (shared by all views). */
  readonly grads: Grads;
  /** Path prefix, `""` at the root. */
  readonly path: string;
  /** False for inference: layers may skip work only backward needs. */
  readonly training: boolean;
  /** The pass's key (shared by all views). */
  readonly key: ForwardKey;
  /** The batch's per-example facts, when given (shared by all views). */
  readonly rows: BatchRows | undefined;

  /** Creates a root context. */
  constructor(options: ContextOptions) {
    this.provider = isParamProvider(options.params) ? options.params : paramsProvider(options.params);
    this.store = options.store ?? new SavedStore();
    this.selector = options.selector ?? keepAll;
    this.grads = options.grads ?? {};
    this.path = options.path ?? "";
    this.training = options.training ?? true;
    this.key = options.key ?? DEFAULT_FORWARD_KEY;
    this.rows = options.rows;
  }

  /** Full path of a local name. */
  at(name: string): string {
    if (name === "") return this.path;
    return this.path === "" ? name : `${this.path}.${name}`;
  }

  /** A view one level down: `ctx.child("attn").at("qkv") === "<path>.attn.qkv"`; `child("")` is the same path. */
  child(name: string): Context {
    return this.#with({ path: this.at(name) });
  }

  /** The same view at another absolute path (a path-transparent wrapper runs its children one level up). */
  withPath(path: string): Context {
    return this.#with({ path });
  }

  /** The same view with another selector (checkpointing recomputes with the inner selector). */
  withSelector(selector: PolicySelector): Context {
    return this.#with({ selector });
  }

  /** The same view saving into another store. */
  withStore(store: SavedStore): Context {
    return this.#with({ store });
  }

  #with(o: Partial<ContextOptions>): Context {
    return new Context({
      params: this.provider,
      store: o.store ?? this.store,
      selector: o.selector ?? this.selector,
      grads: this.grads,
      path: o.path ?? this.path,
      training: this.training,
      key: this.key,
      ...(this.rows ? { rows: this.rows } : {}),
    });
  }

  /**
   * The parameter `path.name`, from the provider. Valid inside the calling `tf.tidy` only (see
   * {@linkcode ParamProvider}); never dispose it. Throws a clear error when the model has no such parameter.
   */
  param(name: string): tf.Tensor {
    const k = this.at(name);
    const p = this.provider.read(k);
    if (!p) throw new Error(`Cannot find parameter "${k}"`);
    return p;
  }

  /** Saves `t` for backward under `path.name`, through the selected policy. */
  save(name: string, t: tf.Tensor, role: SavedRole, groupAxis?: number): void {
    const info: SavedInfo = {
      tag: this.at(name),
      role,
      ...(groupAxis === undefined ? {} : { groupAxis }),
      step: this.key.step,
      seed: this.key.seed,
      ...(this.rows ? { rows: this.rows } : {}),
    };
    this.store.put(t, info, this.selector(info));
  }

  /** Unpacks the tensor saved under `path.name` and frees its packed form. The caller owns the result. */
  load(name: string): tf.Tensor {
    const e = this.store.take(this.at(name));
    try {
      return e.policy.unpack(e.packed, e.info);
    } finally {
      e.policy.dispose(e.packed);
    }
  }

  /** Removes the entry saved under `path.name` without unpacking; the caller disposes it with its policy. */
  take(name: string): SavedEntry {
    return this.store.take(this.at(name));
  }

  /** True when something is saved under `path.name`. */
  has(name: string): boolean {
    return this.store.has(this.at(name));
  }

  /** Adds `g` to the gradient of parameter `path.name` (keeps the sum out of any enclosing tidy). */
  accumulate(name: string, g: tf.Tensor): void {
    const k = this.at(name);
    const shape = this.provider.shape(k);
    if (!shape) throw new Error(`Cannot accumulate gradient: no parameter "${k}"`);
    if (g.shape.join(",") !== shape.join(",")) {
      throw new TypeError(`Cannot accumulate gradient of "${k}": shape [${g.shape}] does not match [${shape}]`);
    }
    const old = this.grads[k];
    if (old) {
      this.grads[k] = tf.keep(tf.add(old, g));
      old.dispose();
    } else {
      this.grads[k] = tf.keep(g.clone());
    }
  }
}
