import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  fusedActive,
  fusedKernels,
  fusedKernelsInstalled,
  fusedOp,
  initBackend,
  setFusedKernels,
} from "../../lib/backend/mod.ts";
import { NN_KERNELS } from "../../lib/nn/kernels/mod.ts";
import { MESA_KERNELS } from "../../lib/mesa/kernels.ts";
import "../../lib/mesa/quantize.ts"; // registers the Mesa ops
import { ADAM_KERNEL } from "../../lib/optim/adam_kernel.ts";
import { testOnBackends } from "../_util/backends.ts";

type Args = Parameters<tf.KernelFunc>[0];
interface HeapBackend {
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** A test op: the kernel adds 1, the stock path adds 2, so the result says which ran. */
function plusOp(name: string, group: string, accepts?: (x: tf.Tensor) => boolean) {
  return fusedOp({
    name,
    group,
    kernel: () => (args: Args) => {
      const be = args.backend as unknown as HeapBackend;
      const x = args.inputs.x as tf.TensorInfo;
      const y = be.makeOutput(x.shape.slice(), "float32");
      be.typedArrayFromHeap(y).set(be.typedArrayFromHeap(x).map((v) => v + 1));
      return y;
    },
    fused: (run, x: tf.Tensor) => run<tf.Tensor>({ x }),
    stock: (x: tf.Tensor) => tf.add(x, 2),
    accepts,
  });
}

const early = plusOp("TestPlusEarly", "test");

function ran(op: (x: tf.Tensor) => tf.Tensor): "fused" | "stock" {
  const x = tf.tensor1d([10]);
  const y = op(x);
  const v = y.dataSync()[0];
  tf.dispose([x, y]);
  return v === 11 ? "fused" : v === 12 ? "stock" : assert.fail(`unexpected value ${v}`);
}

testOnBackends("registry: an op runs its kernel on wasm/blas, its stock ops elsewhere and under a tape", (backend) => {
  const onWasm = backend !== "cpu";
  assert.equal(ran(early), onWasm ? "fused" : "stock");
  assert.equal(early.active(), onWasm);
  assert.equal(early.kernelName, "TestPlusEarly");
  assert.equal(early.group, "test");
  // under tf.grads the stock (differentiable) path runs: d/dx (x + 2) = 1
  const g = tf.grad((x: tf.Tensor) => {
    assert.equal(early.active(), false);
    return early(x).sum();
  })(tf.tensor1d([1, 2]));
  assert.deepEqual(Array.from(g.dataSync()), [1, 1]);
  g.dispose();
});

testOnBackends("registry: the options switch ops off globally or by group; accepts can decline", (backend) => {
  if (backend === "cpu") return;
  const before = setFusedKernels(false);
  try {
    assert.equal(ran(early), "stock");
    assert.equal(fusedActive(), false);
  } finally {
    setFusedKernels(before);
  }
  const groupBefore = setFusedKernels(false, "test");
  try {
    assert.equal(groupBefore, true);
    assert.equal(ran(early), "stock");
    assert.equal(fusedActive("test"), false);
    assert.equal(fusedActive("nn"), true, "other groups stay on");
  } finally {
    setFusedKernels(groupBefore, "test");
  }
  assert.equal(ran(early), "fused");
  const picky = plusOp("TestPlusPicky", "test", (x) => x.size > 1);
  assert.equal(ran(picky), "stock"); // size 1: declined
});

Deno.test("registry: an op registered after the kernels are installed is installed on the spot", async () => {
  await initBackend({ backend: "wasm" });
  assert.equal(fusedKernelsInstalled(), true);
  const late = plusOp("TestPlusLate", "test");
  assert.ok(tf.getKernel("TestPlusLate", "wasm") !== undefined);
  assert.equal(ran(late), "fused");
});

Deno.test("registry: every owner's kernels are registered, with their groups", () => {
  const byName = new Map(fusedKernels().map((k) => [k.name, k.group]));
  for (const name of Object.values(NN_KERNELS)) assert.equal(byName.get(name), "nn", name);
  for (const name of Object.values(MESA_KERNELS)) assert.equal(byName.get(name), "mesa", name);
  assert.equal(byName.get(ADAM_KERNEL), "optim");
});

Deno.test("registry: bad specs are TypeErrors", () => {
  assert.throws(() => plusOp("", "test"), { name: "TypeError", message: /'name' and 'group' must be non-empty/ });
  assert.throws(() => plusOp("TestX", ""), TypeError);
});
