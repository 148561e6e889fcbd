/**
 * The parameter seam: a forward on a wrapped provider (θ + ε·z computed per tensor on read) equals a forward on
 * explicitly perturbed parameters, leaves the model's parameters bitwise unchanged, and leaks nothing.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { hashSeed } from "../../lib/models/init.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { forwardLoss, inferLogits, mapParams, type Params, paramsProvider } from "../../lib/nn/mod.ts";
import { measure } from "../../lib/memory/mod.ts";
import { backprop } from "../../lib/train/backprop.ts";
import { testOnBackends } from "../_util/backends.ts";

const EPS = 1e-3;

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);
}

function snapshot(params: Params): Map<string, Uint32Array> {
  return new Map(Object.entries(params).map(([k, v]) => [k, bits(v)]));
}

function setup() {
  const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16, context: 8 }, { seed: 1 });
  const z: Params = {};
  for (const [k, v] of Object.entries(gpt.params)) z[k] = tf.randomNormal(v.shape, 0, 1, "float32", hashSeed(7, k));
  const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [3, 1, 4, 1, 5, 9, 2, 6]], [2, 8], "int32");
  const y = tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [1, 4, 1, 5, 9, 2, 6, 5]], [2, 8], "int32");
  return { gpt, z, x, y };
}

testOnBackends("a forward on θ + ε·z read through mapParams equals one on explicitly perturbed θ, bitwise", () => {
  const { gpt, z, x, y } = setup();
  const before = tf.memory().numTensors;
  const original = snapshot(gpt.params);
  const perturb = (name: string, theta: tf.Tensor) => tf.add(theta, tf.mul(z[name], EPS));
  const wrapped = mapParams(paramsProvider(gpt.params), perturb);

  const viaProvider = inferLogits(gpt, x, { params: wrapped });
  const lossProvider = forwardLoss(gpt, { x, y }, { params: wrapped });
  // The model's own parameters are untouched, bit for bit, and the wrapped passes leaked nothing.
  for (const [k, v] of Object.entries(gpt.params)) assert.deepEqual(bits(v), original.get(k), `${k} changed`);
  assert.equal(tf.memory().numTensors, before + 1, "only the returned logits are live");

  const explicit: Params = {};
  for (const [k, v] of Object.entries(gpt.params)) explicit[k] = tf.tidy(() => perturb(k, v));
  const model = { ...gpt, params: explicit };
  const viaExplicit = inferLogits(model, x);
  const lossExplicit = forwardLoss(model, { x, y });
  assert.deepEqual(bits(viaProvider), bits(viaExplicit));
  assert.equal(lossProvider, lossExplicit);
  // And the perturbation is real: the unperturbed loss differs.
  assert.notEqual(forwardLoss(gpt, { x, y }), lossProvider);

  tf.dispose([viaProvider, viaExplicit, ...Object.values(explicit)]);
  assert.equal(tf.memory().numTensors, before, "tensor leak");
  tf.dispose([x, y, ...Object.values(z), ...Object.values(gpt.params)]);
});

testOnBackends("a wrapped forward holds one layer's computed parameters at a time, never a parameter set", async () => {
  const { gpt, z, x, y } = setup();
  const wrapped = mapParams(paramsProvider(gpt.params), (n, t) => tf.add(t, tf.mul(z[n], EPS)));
  // Bytes of the largest layer's parameters (a Linear's w and b are read, and computed, together).
  const perLayer = new Map<string, number>();
  for (const [k, v] of Object.entries(gpt.params)) {
    const layer = k.slice(0, k.lastIndexOf("."));
    perLayer.set(layer, (perLayer.get(layer) ?? 0) + v.size * 4);
  }
  const largest = Math.max(...perLayer.values());
  const all = Object.values(gpt.params).reduce((n, p) => n + p.size * 4, 0);
  assert.ok(2 * largest < all / 2, "the bound below is far from a parameter set");
  const plain = await measure(() => forwardLoss(gpt, { x, y }));
  const onRead = await measure(() => forwardLoss(gpt, { x, y }, { params: wrapped }));
  assert.equal(plain.retainedBytes, 0);
  assert.equal(onRead.retainedBytes, 0);
  // θ + ε·z costs, while one layer reads it, its computed parameters plus the transient ε·z of one of them.
  assert.ok(
    onRead.peakBytes <= plain.peakBytes + 2 * largest,
    `peak ${onRead.peakBytes} vs plain ${plain.peakBytes} + 2 x ${largest}`,
  );
  tf.dispose([x, y, ...Object.values(z), ...Object.values(gpt.params)]);
});

testOnBackends("backprop reads parameters through the given provider: gradients at θ + ε·z", () => {
  const { gpt, z, x, y } = setup();
  const wrapped = mapParams(paramsProvider(gpt.params), (n, t) => tf.add(t, tf.mul(z[n], EPS)));
  const explicit: Params = {};
  for (const [k, v] of Object.entries(gpt.params)) explicit[k] = tf.add(v, tf.mul(z[k], EPS));
  const a = backprop().lossAndGrads(gpt, { x, y }, { params: wrapped });
  const b = backprop().lossAndGrads({ ...gpt, params: explicit }, { x, y });
  assert.equal(a.loss, b.loss);
  for (const k of Object.keys(gpt.params)) assert.deepEqual(bits(a.grads[k]), bits(b.grads[k]), k);
  tf.dispose([x, y, ...Object.values(z), ...Object.values(gpt.params), ...Object.values(explicit)]);
  tf.dispose([...Object.values(a.grads), ...Object.values(b.grads)]);
});

Deno.test("mapParams rejects a mapped value of another shape, naming the parameter", () => {
  const params = { "fc.w": tf.ones([2, 3]) };
  const bad = mapParams(paramsProvider(params), () => tf.ones([3, 2]));
  assert.throws(() => tf.tidy(() => bad.read("fc.w")), /Cannot read parameter "fc\.w".*\[3,2\].*\[2,3\]/);
  assert.equal(bad.read("missing"), undefined);
  params["fc.w"].dispose();
});
