/**
 * Independent float64 oracles: plain loops written from the math (the GPT-2 / nanoGPT definitions), not from
 * memtrain's code, for attention with the causal mask, LayerNorm, GELU (tanh form), softmax, cross-entropy and a whole
 * tiny GPT forward. The layers' own gradient checks differentiate the layers' own forward, so a bug shared by a forward
 * and its backward (or by all three kernel implementations) is invisible to them; these references are not.
 *
 * Layout conventions (row-major `Float64Array`s): a matrix `[rows, cols]` is `rows·cols` numbers; a Linear weight is
 * `[in, out]` (`y = x·W + b`); token ids are `[B·T]`; activations `[B·T, D]`.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** `√(2/π)`, the GELU tanh-approximation constant. */
const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh form (Hendrycks & Gimpel; GPT-2): `½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. */
export function refGelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

/** Softmax of each row of `x [rows, n]` (max-subtracted for range, as the definition allows). */
export function refSoftmax(x: ArrayLike<number>, n: number): Float64Array {
  const rows = x.length / n;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += out[r * n + j] = Math.exp(x[r * n + j] - max);
    for (let j = 0; j < n; j++) out[r * n + j] /= sum;
  }
  return out;
}

/**
 * Attention probabilities for scores `s [rows, T, T]` (rows of T×T blocks): `softmax(scale·s)` over the last axis,
 * where with `causal` query `i` may attend only to keys `j ≤ i` (the others get probability exactly 0).
 */
export function refAttentionProbs(s: ArrayLike<number>, t: number, scale: number, causal: boolean): Float64Array {
  const out = new Float64Array(s.length);
  for (let base = 0; base < s.length; base += t * t) {
    for (let i = 0; i < t; i++) {
      const visible = causal ? i + 1 : t;
      let max = -Infinity;
      for (let j = 0; j < visible; j++) max = Math.max(max, scale * s[base + i * t + j]);
      let sum = 0;
      for (let j = 0; j < visible; j++) sum += out[base + i * t + j] = Math.exp(scale * s[base + i * t + j] - max);
      for (let j = 0; j < visible; j++) out[base + i * t + j] /= sum;
    }
  }
  return out;
}

/** LayerNorm of each row of `x [n, d]`: `(x − μ)/√(σ² + eps)·g + b` with the biased (population) variance σ². */
export function refLayerNorm(
  x: ArrayLike<number>,
  d: number,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let mu = 0;
    for (let j = 0; j < d; j++) mu += x[o + j];
    mu /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j] - mu) ** 2;
    v /= d;
    const inv = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < d; j++) out[o + j] = (x[o + j] - mu) * inv * g[j] + b[j];
  }
  return out;
}

/** `x [n, in]·w [in, out] + b [out]`. */
export function refLinear(
  x: ArrayLike<number>,
  inDim: number,
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  outDim: number,
): Float64Array {
  const n = x.length / inDim;
  const out = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < outDim; c++) {
      let s = b ? b[c] : 0;
      for (let k = 0; k < inDim; k++) s += x[r * inDim + k] * w[k * outDim + c];
      out[r * outDim + c] = s;
    }
  }
  return out;
}

/** The weights of one multi-head self-attention layer. */
export interface RefAttentionWeights {
  /** `[D, 3D]`: columns `[0, D)` give the queries, `[D, 2D)` the keys, `[2D, 3D)` the values. */
  qkvW: ArrayLike<number>;
  /** `[3D]`. */
  qkvB: ArrayLike<number>;
  /** `[D, D]` output projection. */
  projW: ArrayLike<number>;
  /** `[D]`. */
  projB: ArrayLike<number>;
}

/**
 * Multi-head self-attention of `x [B·T, D]` (Vaswani et al.): head `h` uses feature columns `[h·dh, (h+1)·dh)` of the
 * queries, keys and values (`dh = D/heads`); `o_i = Σ_j softmax_j(q_i·k_j/√dh)·v_j` over `j ≤ i` when causal, all `j`
 * otherwise; the heads are concatenated in order and projected.
 */
export function refAttention(
  x: ArrayLike<number>,
  batch: number,
  t: number,
  d: number,
  heads: number,
  w: RefAttentionWeights,
  causal = true,
): Float64Array {
  const dh = d / heads;
  const qkv = refLinear(x, d, w.qkvW, w.qkvB, 3 * d); // [B·T, 3D]
  const merged = new Float64Array(batch * t * d);
  const at = (b: number, i: number, part: number, h: number, c: number) =>
    qkv[(b * t + i) * 3 * d + part * d + h * dh + c];
  const scores = new Float64Array(t);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < t; i++) {
        const visible = causal ? i + 1 : t;
        let max = -Infinity;
        for (let j = 0; j < visible; j++) {
          let s = 0;
          for (let c = 0; c < dh; c++) s += at(b, i, 0, h, c) * at(b, j, 1, h, c);
          scores[j] = s / Math.sqrt(dh);
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < visible; j++) sum += scores[j] = Math.exp(scores[j] - max);
        for (let c = 0; c < dh; c++) {
          let o = 0;
          for (let j = 0; j < visible; j++) o += (scores[j] / sum) * at(b, j, 2, h, c);
          merged[(b * t + i) * d + h * dh + c] = o;
        }
      }
    }
  }
  return refLinear(merged, d, w.projW, w.projB, d);
}

/**
 * Mean cross-entropy of `logits [n, c]` against `targets [n]`: `Σ_i w_i·(log Σ_j e^{z_ij} − z_{i,y_i}) / Σ_i w_i`
 * (`w = 1` without weights).
 */
export function refCrossEntropy(
  logits: ArrayLike<number>,
  c: number,
  targets: ArrayLike<number>,
  weights?: ArrayLike<number>,
): number {
  let num = 0, den = 0;
  for (let i = 0; i < targets.length; i++) {
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, logits[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(logits[i * c + j] - max);
    const nll = max + Math.log(s) - logits[i * c + targets[i]];
    const w = weights ? weights[i] : 1;
    num += w * nll;
    den += w;
  }
  return num / den;
}

/** The shape of a GPT for {@linkcode refGptLogits}. */
export interface RefGptConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
}

/** Parameters by path as float64 arrays. */
export type RefParams = Record<string, Float64Array>;

/** Downloads a parameter map to float64 arrays. */
export function toRefParams(params: Record<string, tf.Tensor>): RefParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v.dataSync())]));
}

/**
 * A GPT-2-style forward (nanoGPT's model): `h = wte[ids] + wpe[pos]`; per block
 * `h += attn(LN1(h))`, `h += W2·gelu(W1·LN2(h) + b1) + b2`; logits `= LN_f(h)·W_out + b_out`. Parameter paths are
 * memtrain's (`embed.wte`, `blocks.<i>.attn.qkv.w`, `head.out.b`, ...); returns logits `[B·T, V]`.
 */
export function refGptLogits(
  p: RefParams,
  cfg: RefGptConfig,
  ids: ArrayLike<number>,
  batch: number,
  t: number,
): Float64Array {
  const { vocab, dim: d, heads } = cfg;
  const hidden = cfg.mlpRatio * d;
  const get = (name: string) => {
    const v = p[name];
    if (!v) throw new Error(`reference GPT: no parameter "${name}"`);
    return v;
  };
  let h = new Float64Array(batch * t * d);
  const wte = get("embed.wte"), wpe = get("embed.wpe");
  for (let r = 0; r < batch * t; r++) {
    for (let j = 0; j < d; j++) h[r * d + j] = wte[ids[r] * d + j] + wpe[(r % t) * d + j];
  }
  for (let l = 0; l < cfg.layers; l++) {
    const k = (s: string) => get(`blocks.${l}.${s}`);
    const a = refAttention(refLayerNorm(h, d, k("ln1.g"), k("ln1.b")), batch, t, d, heads, {
      qkvW: k("attn.qkv.w"),
      qkvB: k("attn.qkv.b"),
      projW: k("attn.proj.w"),
      projB: k("attn.proj.b"),
    });
    h = h.map((v, i) => v + a[i]);
    const u = refLinear(refLayerNorm(h, d, k("ln2.g"), k("ln2.b")), d, k("mlp.fc1.w"), k("mlp.fc1.b"), hidden);
    const m = refLinear(u.map(refGelu), hidden, k("mlp.fc2.w"), k("mlp.fc2.b"), d);
    h = h.map((v, i) => v + m[i]);
  }
  return refLinear(
    refLayerNorm(h, d, get("head.ln_f.g"), get("head.ln_f.b")),
    d,
    get("head.out.w"),
    get("head.out.b"),
    vocab,
  );
}

/** Largest `|a − e|` over elements, divided by the largest `|e|` (the scale of the expected tensor). */
export function scaledMaxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    num = Number.isNaN(e) ? Infinity : Math.max(num, e);
    den = Math.max(den, Math.abs(expected[i]));
  }
  return num / Math.max(den, 1e-30);
}
