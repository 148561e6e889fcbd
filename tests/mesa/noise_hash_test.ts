import assert from "node:assert/strict";
import { mixSeed, NOISE_HASH, uniformAt } from "../../lib/mesa/noise_hash.ts";
import { fillUniform } from "../../lib/mesa/noise.ts";
import { mesaSimd } from "../../lib/mesa/simd.ts";

const SEEDS = [0, 1, 7, -123456789, 2 ** 31 - 1];

/** The hash written out from its description (murmur3 finalizer of i·φ ⊕ key, top 24 bits), independently. */
function reference(key: number, i: number): number {
  let h = (Math.imul(i, 0x9e3779b1) ^ key) >>> 0;
  for (const [shift, mul] of [[16, 0x85ebca6b], [13, 0xc2b2ae35]]) h = Math.imul(h ^ (h >>> shift), mul) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return Math.floor(h / 256) / 2 ** 24;
}

Deno.test("noise hash: uniformAt is the murmur3-finalizer hash it documents, in [0, 1)", () => {
  assert.equal(NOISE_HASH.unit, 2 ** -24);
  for (const seed of SEEDS) {
    const key = mixSeed(seed, 0);
    assert.notEqual(key, 0);
    for (const i of [0, 1, 2, 3, 4, 1000, 2 ** 20 + 3, 2 ** 30 - 1]) {
      const u = uniformAt(key, i);
      assert.equal(u, reference(key, i), `seed ${seed}, i ${i}`);
      assert.ok(u >= 0 && u < 1);
    }
  }
});

Deno.test("noise hash: fillUniform is uniformAt per element", () => {
  const out = fillUniform(new Float32Array(33), 7);
  const key = mixSeed(7, 0);
  out.forEach((v, i) => assert.ok(Object.is(v, Math.fround(uniformAt(key, i))), `element ${i}`));
});

Deno.test("noise hash: the SIMD noise (vNoise lanes and sNoise tail) equals uniformAt bit-for-bit", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const sk = mesaSimd({ wasm: { HEAPU8: new Uint8Array(memory.buffer), asm: { memory } } });
  assert.ok(sk, "this engine compiles WebAssembly SIMD");
  const n = 4099; // 1024 vectors and a 3-element tail
  for (const seed of SEEDS) {
    const key = mixSeed(seed, 0);
    for (const start of [0, 1, 3, 1_000_003, 2 ** 30 - 2 * n]) {
      sk.mesaNoise(0, start, n, key);
      const got = new Float32Array(memory.buffer, 0, n);
      for (let i = 0; i < n; i++) {
        const want = Math.fround(uniformAt(key, start + i));
        if (!Object.is(got[i], want)) assert.fail(`seed ${seed}, element ${start + i}: SIMD ${got[i]} vs ${want}`);
      }
    }
  }
});
