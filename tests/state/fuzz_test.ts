/**
 * Fuzz of the checkpoint reader: seeded random buffers, mutations of a valid file (bit flips, byte writes,
 * truncations, insertions) and structural mutations of its header re-signed with a valid checksum (so they get past
 * the CRC to the structure checks). Every case must decode or throw a CheckpointError, nothing else.
 * `MEMTRAIN_FUZZ_CASES` sets the number of cases (default 3000).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";
import {
  CheckpointError,
  CHECKSUM_KEY,
  crc32,
  decodeState,
  disposeTreeTensors,
  encodeState,
} from "../../lib/state/mod.ts";

const CASES = Number(Deno.env.get("MEMTRAIN_FUZZ_CASES") ?? 3000);

function valid(): Uint8Array {
  const w = tf.tensor2d([[1, 2, 3], [4, 5, 6]]), c = tf.tensor1d([7, 8], "int32");
  const bytes = encodeState({
    tree: {
      params: { w, "b.c": c },
      state: [{ count: 3, mu: { w } }, {}],
      run: { rng: Float64Array.of(1, NaN), pos: -0 },
    },
    meta: { step: 3, seed: 0, skipped: 0 },
  });
  tf.dispose([w, c]);
  return bytes;
}

/** Re-encodes a header object with a valid checksum over it and `data`. */
function signed(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const meta = { ...(header.__metadata__ as Record<string, string> ?? {}) };
  delete meta[CHECKSUM_KEY];
  const h = { ...header, __metadata__: meta };
  meta[CHECKSUM_KEY] = crc32(data, crc32(new TextEncoder().encode(JSON.stringify(h)))).toString(16).padStart(8, "0");
  const json = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const WEIRD: unknown[] = [
  -1,
  0,
  1,
  2 ** 53,
  1.5,
  NaN,
  "x",
  "",
  null,
  true,
  [],
  {},
  [0],
  [0, 1e12],
  [-1, 2],
  { $tensor: "params/w" },
  { $array: "params/w" },
  { $num: "NaN" },
  { $num: "1" },
  { $obj: 3 },
  { $nope: 1 },
  "F64",
  "BOOL",
  "F16",
  [2, 3],
];

function mutateStructure(rng: Rng, bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const data = bytes.slice(8 + n);
  const pick = <T>(a: T[]): T => a[rng.int(a.length)];
  const names = Object.keys(header);
  const name = pick(names);
  if (name === "__metadata__") {
    const key = pick(Object.keys(header.__metadata__));
    let tree: unknown = header.__metadata__[key];
    try {
      tree = JSON.parse(String(tree));
    } catch { /* a plain string value (the format) */ }
    // Replace a random node of the JSON (tree or meta) with a weird value, or the whole string with junk.
    const walk = (x: unknown, depth: number): unknown => {
      if (x === null || typeof x !== "object" || rng.int(3) === 0 || depth > 6) {
        return rng.int(4) === 0 ? pick(WEIRD) : x;
      }
      if (Array.isArray(x)) return x.map((v) => walk(v, depth + 1));
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v, depth + 1)]));
    };
    header.__metadata__[key] = rng.int(8) === 0 ? "{not json" : JSON.stringify(walk(tree, 0));
  } else {
    const field = pick(["dtype", "shape", "data_offsets", "whole"]);
    if (field === "whole") header[name] = pick(WEIRD);
    else header[name][field] = pick(WEIRD);
  }
  return signed(header, rng.int(4) === 0 ? data.subarray(0, rng.int(data.length + 1)) : data);
}

Deno.test(`fuzz: ${CASES} seeded random, mutated and re-signed buffers decode or throw CheckpointError`, () => {
  const base = valid();
  const rng = new Rng(20261201);
  const tensors = tf.memory().numTensors;
  const kinds = { ok: 0, rejected: 0 };
  for (let i = 0; i < CASES; i++) {
    let b: Uint8Array;
    switch (i % 4) {
      case 0: { // random bytes, sometimes with a plausible length prefix
        b = Uint8Array.from({ length: rng.int(300) }, () => rng.int(256));
        if (b.length >= 8 && rng.int(2) === 0) new DataView(b.buffer).setBigUint64(0, BigInt(rng.int(b.length)), true);
        break;
      }
      case 1: { // flips and byte writes
        b = base.slice();
        for (let k = 1 + rng.int(4); k > 0; k--) {
          const at = rng.int(b.length);
          b[at] = rng.int(2) ? b[at] ^ (1 << rng.int(8)) : rng.int(256);
        }
        break;
      }
      case 2: { // truncation or insertion
        const at = rng.int(base.length);
        b = rng.int(2)
          ? base.subarray(0, at)
          : Uint8Array.from([...base.subarray(0, at), rng.int(256), ...base.subarray(at)]);
        break;
      }
      default:
        b = mutateStructure(rng, base);
    }
    try {
      disposeTreeTensors(decodeState(b, `case-${i}`).tree);
      kinds.ok++;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw new Error(`case ${i} threw ${e}`, { cause: e });
      assert.match(e.message, new RegExp(`^Cannot read checkpoint case-${i}: [^\\n]+$`));
      kinds.rejected++;
    }
  }
  assert.equal(tf.memory().numTensors, tensors, "no tensor leaks from rejected files");
  assert.ok(kinds.rejected > CASES * 0.9, `most cases are rejected: ${JSON.stringify(kinds)}`);
});
