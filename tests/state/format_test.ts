import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { crc32as } from "./_crc_ref.ts";
import { Rng } from "../../lib/data/rng.ts";
import { createGpt } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { CheckpointError, crc32, decodeState, encodeEntries, encodeState, readStateFile } from "../../lib/state/mod.ts";
import { Trainer } from "../../lib/train/mod.ts";
import { batchAt, CFG } from "../train/_resume.ts";
import { disposeBatch } from "../../lib/train/mod.ts";

Deno.test("crc32 matches a bitwise reference on random buffers of every length mod 4", () => {
  const rng = new Rng(1);
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n * 7 + (n % 4) }, () => rng.int(256));
    assert.equal(crc32(b), crc32as(b));
  }
});

Deno.test("state trees round-trip exactly: tensors, typed arrays, NaN, ±Infinity, -0, undefined, $-keys, shared tensors", () => {
  const t = tf.tensor2d([[1.5, -0], [NaN, 3e38]]), i = tf.tensor1d([1, -2], "int32"), b = tf.tensor1d([1, 0], "bool");
  const tree = {
    a: { w: t, again: t, i, b },
    nums: [NaN, Infinity, -Infinity, -0, 0.1 + 0.2, 2 ** 60],
    arrays: [
      Float64Array.of(Math.PI, NaN),
      Uint16Array.of(65535),
      Uint8Array.of(7),
      Int32Array.of(-5),
      Float32Array.of(0.1),
    ],
    odd: { $tensor: "not a ref", "__proto__x": 1, nothing: undefined, nil: null, s: "é", yes: true },
  };
  const back = decodeState(encodeState({ tree, meta: { step: 2 } }), "<bytes>").tree as unknown as typeof tree;
  assert.deepStrictEqual(back.nums, tree.nums);
  assert.deepStrictEqual(back.arrays, tree.arrays);
  assert.deepStrictEqual(back.odd, tree.odd);
  assert.equal(back.a.w, back.a.again, "a tensor held twice comes back as one tensor");
  assert.deepStrictEqual(new Uint8Array(back.a.w.dataSync().buffer), new Uint8Array(t.dataSync().buffer));
  assert.deepEqual([back.a.i.dtype, Array.from(back.a.i.dataSync())], ["int32", [1, -2]]);
  assert.deepEqual([back.a.b.dtype, Array.from(back.a.b.dataSync())], ["bool", [1, 0]]);
  tf.dispose([t, i, b, back.a.w, back.a.i, back.a.b]);
});

Deno.test("the header is safetensors: 8-byte length, JSON with dtype/shape/data_offsets, 8-aligned data", () => {
  const bytes = encodeEntries([
    { name: "a", dtype: "F32", shape: [2], data: new Uint8Array(Float32Array.of(1, 2).buffer) },
    { name: "b", dtype: "U8", shape: [3], data: Uint8Array.of(1, 2, 3) },
  ], { k: "v" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.a, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
  assert.deepEqual(header.b, { dtype: "U8", shape: [3], data_offsets: [8, 11] });
  assert.match(header.__metadata__["memtrain.crc32"], /^[0-9a-f]{8}$/);
  assert.equal(bytes.length, 8 + n + 11);
});

/** A real checkpoint of a tiny GPT after one AdamW step. */
function gptCheckpoint(): Uint8Array {
  const model = createGpt(CFG, { seed: 0 });
  const t = new Trainer(model, { optimizer: adamw({ lr: 1e-2 }) });
  const b = batchAt(0);
  t.step(b);
  disposeBatch(b);
  const path = Deno.makeTempFileSync();
  t.save(path);
  const bytes = Deno.readFileSync(path);
  Deno.removeSync(path);
  t.dispose();
  tf.dispose(Object.values(model.params));
  return bytes;
}

Deno.test("every truncation and a bit flip in every region give a one-line CheckpointError naming the file", () => {
  const bytes = gptCheckpoint();
  const n = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", bytes.subarray(0, 0), /fewer than the 8/],
    ["in the length", bytes.subarray(0, 5), /fewer than the 8/],
    ["in the header", bytes.subarray(0, n - 10), /header length \d+ exceeds/],
    ["in the data", bytes.subarray(0, bytes.length - 1), /past the \d+ data bytes \(truncated\)/],
  ];
  for (
    const [at, region] of [["length", 3], ["header", 40], ["metadata", n - 30], ["data", n + 100], [
      "last byte",
      bytes.length - 1,
    ]] as const
  ) {
    const b = bytes.slice();
    b[region] ^= 0x10;
    cases.push([`flip in the ${at}`, b, /./]);
  }
  const data = bytes.slice();
  data[n + 7] ^= 1;
  cases.push([
    "flip of a float's low bit",
    data,
    /the checksum does not match \(stored [0-9a-f]{8}, contents [0-9a-f]{8}\): corrupt or tampered/,
  ]);
  for (const [what, b, re] of cases) {
    assert.throws(() => decodeState(b, "run/step-00000001.safetensors"), (e) => {
      assert.ok(e instanceof CheckpointError, `${what}: ${e}`);
      assert.match(e.message, /^Cannot read checkpoint run\/step-00000001\.safetensors: [^\n]+$/, what);
      assert.match(e.message, re, what);
      return true;
    });
  }
  assert.throws(
    () => readStateFile("/nonexistent/ck.safetensors"),
    /Cannot read checkpoint \/nonexistent\/ck.safetensors: cannot be read/,
  );
});

Deno.test("a checkpoint for another model or optimizer says what differs and changes nothing", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/ck.safetensors`, gptCheckpoint());
    const cases: [Trainer<unknown>, RegExp][] = [
      [
        new Trainer(createGpt({ ...CFG, dim: 16 }, { seed: 0 }), { optimizer: adamw({ lr: 1e-2 }) }),
        /the parameters do not match the model: '\/embed.wte' is float32 \[16,32\] in the file, float32 \[16,16\] in the model/,
      ],
      [
        new Trainer(createGpt({ ...CFG, layers: 1 }, { seed: 0 }), { optimizer: adamw({ lr: 1e-2 }) }),
        /'\/blocks.1.ln1.g' is in the file but not in the model/,
      ],
      [
        new Trainer(createGpt(CFG, { seed: 0 }), { optimizer: adamw({ lr: 1e-2 }), seed: 3 }),
        /its seed is 0, the trainer's is 3/,
      ],
      [
        new Trainer(createGpt(CFG, { seed: 0 }), {
          optimizer: adamw({ lr: 1e-2 }),
          stateful: { x: { stateDict: () => 1, loadStateDict() {} } },
        }),
        /its stateful pieces are \[\], the trainer's are \[x\]/,
      ],
    ];
    for (const [t, re] of cases) {
      const before = Object.values(t.model.params).map((p) => p.dataSync().slice());
      const file = Deno.readFileSync(`${dir}/ck.safetensors`);
      const tensors = tf.memory().numTensors;
      assert.throws(
        () => t.restore(`${dir}/ck.safetensors`),
        (e) => e instanceof CheckpointError && re.test(e.message),
      );
      assert.equal(tf.memory().numTensors, tensors, "the file's tensors were freed");
      assert.deepStrictEqual(Object.values(t.model.params).map((p) => p.dataSync().slice()), before);
      assert.equal(t.stepCount, 0);
      assert.deepStrictEqual(Deno.readFileSync(`${dir}/ck.safetensors`), file, "the file is untouched");
      t.dispose();
      tf.dispose(Object.values(t.model.params));
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
