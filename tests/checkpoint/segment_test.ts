import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { CheckpointSegment, RecomputeMismatchError, trunkParamSpecs } from "../../lib/checkpoint/mod.ts";
import { initParams } from "../../lib/models/init.ts";
import { Context } from "../../lib/nn/context.ts";
import type { Layer, ParamSpec, SavedSpec } from "../../lib/nn/layer.ts";
import { Linear } from "../../lib/nn/linear.ts";
import { Sequence } from "../../lib/nn/sequence.ts";
import { testOnBackends } from "../_util/backends.ts";

/** A layer whose forward changes between calls (as an un-replayed RNG would): width or saved shape. */
class Flaky implements Layer {
  calls = 0;
  constructor(readonly name: string, readonly what: "output" | "saved") {}
  paramSpecs(): ParamSpec[] {
    return [];
  }
  savedSpecs(s: readonly number[]): SavedSpec[] {
    return [{ name: "x", role: "flaky", shape: s.slice(), dtype: "float32" }];
  }
  outputShape(s: readonly number[]): number[] {
    return s.slice();
  }
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    const odd = this.calls++ % 2 === 1;
    return tf.tidy(() => {
      const c = x.shape[1]!;
      ctx.save("x", this.what === "saved" && odd ? x.slice([0, 0], [-1, c - 1]) : x, "flaky");
      return this.what === "output" && odd ? x.slice([0, 0], [-1, c - 1]) : x.clone();
    });
  }
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    ctx.load("x").dispose();
    return dy.clone();
  }
}

function run(seg: CheckpointSegment) {
  const trunk = new Sequence("", [new Linear("fc0", 4, 4), seg]);
  const params = initParams(trunkParamSpecs(trunk.layers), 0);
  const ctx = new Context({ params });
  return { trunk, ctx, params };
}

testOnBackends("a non-deterministic recompute throws RecomputeMismatchError and leaks nothing", () => {
  for (const what of ["output", "saved"] as const) {
    const seg = new CheckpointSegment([new Linear("fc1", 4, 4), new Flaky("flaky", what)]);
    const before = tf.memory().numTensors;
    const { trunk, ctx, params } = run(seg);
    const x = tf.ones([2, 4]);
    const y = trunk.forward(x, ctx);
    const dy = tf.onesLike(y);
    assert.throws(() => trunk.backward(dy, ctx), (e: unknown) => {
      assert.ok(e instanceof RecomputeMismatchError);
      assert.equal(e.tag, "checkpoint[fc1..flaky]");
      assert.match(
        e.message,
        what === "output" ? /output shape \[2,3\] vs \[2,4\]/ : /flaky\.x:float32\[2,3\] vs flaky\.x:float32\[2,4\]/,
      );
      return true;
    });
    ctx.store.dispose();
    [x, y, dy, ...Object.values(ctx.grads), ...Object.values(params)].forEach((t) => t.dispose());
    assert.equal(tf.memory().numTensors, before, `${what}: tensor leak`);
  }
});

testOnBackends("a segment must run at a path ending with its name; its children keep their own paths", () => {
  const seg = new CheckpointSegment([new Linear("fc1", 4, 4)], { name: "ck" });
  const params = initParams(seg.paramSpecs().map((s) => ({ ...s, name: `enc.${s.name}` })), 0);
  const ctx = new Context({ params, path: "enc" });
  const x = tf.ones([2, 4]);
  assert.throws(() => seg.forward(x, ctx), { message: /must run at a context whose path ends with its name.*"enc"/ });
  const y = seg.forward(x, ctx.child("ck"));
  assert.deepEqual(ctx.store.report().map((r) => r.tag), ["enc.ck.input"]);
  seg.backward(tf.onesLike(y), ctx.child("ck"))!.dispose();
  assert.deepEqual(Object.keys(ctx.grads).sort(), ["enc.fc1.b", "enc.fc1.w"]);
  [x, y, ...Object.values(ctx.grads), ...Object.values(params)].forEach((t) => t.dispose());
});

testOnBackends("nested segments recompute recursively and give the plain gradient", () => {
  const inner = new CheckpointSegment([new Linear("b", 3, 3), new Linear("c", 3, 3)], { name: "inner" });
  const outer = new CheckpointSegment([new Linear("a", 3, 3), inner], { name: "outer" });
  const flat = new Sequence("", [new Linear("a", 3, 3), new Linear("b", 3, 3), new Linear("c", 3, 3)]);
  const params = initParams(flat.paramSpecs(), 5);
  const x = tf.randomNormal([4, 3], 0, 1, "float32", 1);
  const grads = (trunk: Sequence) => {
    const ctx = new Context({ params });
    const y = trunk.forward(x, ctx);
    const dy = tf.mul(y, 2);
    const dx = trunk.backward(dy, ctx)!;
    const saved = ctx.store.size;
    [y, dy].forEach((t) => t.dispose());
    return { ctx, dx, saved };
  };
  const want = grads(flat);
  const got = grads(new Sequence("", [outer]));
  assert.equal(got.saved, 0);
  assert.deepEqual(Object.keys(got.ctx.grads).sort(), ["a.b", "a.w", "b.b", "b.w", "c.b", "c.w"]);
  for (const k of Object.keys(want.ctx.grads)) {
    assert.deepEqual(got.ctx.grads[k].dataSync(), want.ctx.grads[k].dataSync(), k);
  }
  assert.deepEqual(got.dx.dataSync(), want.dx.dataSync());
  [x, want.dx, got.dx, ...Object.values(want.ctx.grads), ...Object.values(got.ctx.grads), ...Object.values(params)]
    .forEach((t) => t.dispose());
});
