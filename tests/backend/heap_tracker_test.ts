import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { heapTracker, initBackend, WasmHeapTracker } from "../../lib/backend/mod.ts";
import type { WasmModuleLike } from "../../lib/backend/heap_tracker.ts";
import { findBreakCandidates } from "../../lib/backend/wasm_binary.ts";
import { capturedWasm } from "../../lib/backend/wasm_capture.ts";
import { measure, meter, physicalMeter, setPhysicalMeter } from "../../lib/memory/mod.ts";
import { createGpt, GPT_PRESETS } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { Trainer } from "../../lib/train/mod.ts";
import { BLAS_AVAILABLE } from "../_util/backends.ts";

const HEAP_BACKENDS = BLAS_AVAILABLE ? ["wasm", "blas"] as const : ["wasm"] as const;
const align8 = (n: number) => Math.ceil(n / 8) * 8;

function module(): WasmModuleLike {
  return (tf.backend() as unknown as { wasm: WasmModuleLike }).wasm;
}

for (const backend of HEAP_BACKENDS) {
  Deno.test(`heap tracker: the break of a scripted pattern is emmalloc's (heap: "stock") [${backend}]`, async () => {
    await initBackend({ backend, heap: "stock" });
    const h = heapTracker()!;
    assert.equal(h.kind, "wasm-heap");
    assert.equal(physicalMeter(), h, "initBackend installs the tracker as the physical meter");
    const wasm = module();
    const before = h.breakdown()!;
    // n is a multiple of 8 and more than twice the largest hole: neither n nor what is left after n/2 fits anywhere.
    const n = align8(2 * before.largestFreeBytes + (1 << 20));
    h.resetPeak();
    const b0 = h.current;
    assert.equal(h.peak, b0);
    const p1 = wasm._malloc(n);
    // emmalloc, finding no region that fits, claims the request plus three 16-byte regions from sbrk.
    const b1 = b0 + n + 48;
    assert.equal(h.current, b1);
    assert.equal(h.peak, b1);
    assert.ok(p1 + n <= b1, "the block lies below the break");
    wasm._free(p1);
    assert.equal(h.current, b1, "emmalloc never gives memory back");
    const p2 = wasm._malloc(n / 2);
    assert.equal(h.current, b1, "half the size fits the freed block");
    const p3 = wasm._malloc(n);
    assert.equal(h.current, b1 + n + 48, "the rest of the freed block is too small: the heap grows again");
    assert.equal(h.peak, b1 + n + 48);
    h.resetPeak();
    assert.equal(h.peak, h.current);
    assert.ok(h.memoryBytes >= h.current, "the grown memory holds the break");
    const mid = h.breakdown()!;
    assert.equal(mid.jsBytes - before.jsBytes, n / 2 + n);
    wasm._free(p2);
    wasm._free(p3);
    const after = h.breakdown()!;
    assert.equal(after.jsBytes, before.jsBytes);
    assert.ok(after.freeBytes >= 2 * n, "the freed blocks are holes now");
  });

  Deno.test(`heap tracker: the break of a scripted pattern is the arena's (heap: "first-fit") [${backend}]`, async () => {
    await initBackend({ backend, heap: "first-fit" });
    const h = heapTracker()!;
    const wasm = module();
    wasm._free(wasm._malloc(1 << 20)); // the arena's top span now ends at the break
    const arena = h.arena!;
    const largest = Math.max(0, ...arena.holes().map(([, size]) => size));
    const n = align8(2 * largest + (1 << 20));
    const b0 = h.current;
    const p1 = wasm._malloc(n);
    const b1 = h.current;
    assert.ok(b1 > b0 && b1 - b0 <= n, "the arena grows by what its top hole lacks, at most the request");
    assert.ok(arena.owns(p1) && p1 + n <= b1);
    wasm._free(p1);
    const p2 = wasm._malloc(n / 2);
    assert.equal(p2, p1, "first fit: the freed block's start");
    assert.equal(h.current, b1);
    const p3 = wasm._malloc(n);
    assert.equal(h.current, b1 + n / 2, "the top hole holds n/2: the arena takes the other half from sbrk, exactly");
    assert.equal(p3, p2 + n / 2);
    assert.equal(h.peak >= h.current, true);
    wasm._free(p2);
    wasm._free(p3);
    assert.equal(h.current, b1 + n / 2, "the break never goes down");
  });

  for (const heap of ["stock", "plan"] as const) {
    Deno.test(`heap tracker: the walk accounts for every byte between the heap base and the break [${backend}, ${heap}]`, async () => {
      await initBackend({ backend, heap });
      const h = heapTracker()!;
      const t = tf.zeros([3, 1000]); // 12000 bytes from JS
      const u = tf.zeros([100, 1000]); // 400000 bytes: a large block
      const b = h.breakdown()!;
      assert.ok(b.heapBase > 0 && b.heapBase < b.breakBytes);
      // used + free (+ the 4-byte gaps between disjoint emmalloc blocks, counted as used) cover the heap exactly
      assert.equal(b.usedBytes + b.freeBytes, b.breakBytes - b.heapBase);
      // emmalloc's regions add an 8-byte header; the arena's blocks are the request rounded up to 8
      assert.ok(b.jsRegionBytes >= b.jsBytes, "regions hold what JS asked for");
      assert.equal(b.internalBytes, b.usedBytes - b.jsRegionBytes);
      assert.ok(b.internalBytes >= 0 && b.largestFreeBytes <= b.freeBytes);
      const offset = (tf.backend() as unknown as { dataIdMap: { get(id: unknown): { memoryOffset: number } } })
        .dataIdMap.get(u.dataId).memoryOffset;
      assert.equal(h.arena?.owns(offset) ?? false, heap === "plan", "large blocks go to the arena in plan mode only");
      t.dispose();
      u.dispose();
    });
  }

  // The meter counts tensors; scratch a kernel makes and frees inside itself is not a tensor. On wasm the patched
  // BatchMatMul transposes an operand into scratch: in backward, dx = dy · Wᵀ copies the attention's qkv weight
  // (D × 3D floats). A whole-set step peaks in the update, where no kernel runs with scratch alive, so JS allocations
  // peak exactly at the meter's peak; the default in-place step peaks in backward, where the heap's peak holds that one
  // copy beyond the meter (blas multiplies transposed operands in place: no scratch).
  for (const update of ["whole-set", "per-param"] as const) {
    Deno.test(`heap tracker: JS allocations peak at the meter's peak plus kernel scratch on a GPT step [${backend}, ${update}]`, async () => {
      await initBackend({ backend });
      const h = heapTracker()!;
      const m = meter();
      const gpt = createGpt({ ...GPT_PRESETS.tiny, vocab: 16 }, { seed: 0 });
      const trainer = new Trainer(gpt, { optimizer: adamw({ lr: 1e-2 }), update });
      const batch = { x: tf.zeros([4, 32], "int32"), y: tf.ones([4, 32], "int32") };
      const d = GPT_PRESETS.tiny.dim;
      const scratch = update === "per-param" && backend === "wasm" ? d * 3 * d * 4 : 0;
      try {
        for (let i = 0; i < 2; i++) {
          const offset = h.allocations.live - m.live; // buffers of other tests' backends
          m.resetPeak();
          h.resetPeak();
          trainer.step(batch);
          assert.equal(h.allocations.peak - offset, m.peak + scratch, `step ${i + 1}`);
          assert.equal(h.allocations.live - offset, m.live, `step ${i + 1}: live bytes after the step`);
          assert.ok(h.peak >= h.allocations.peak, "the heap holds at least what JS allocated");
        }
      } finally {
        trainer.dispose();
        tf.dispose([batch.x, batch.y, ...Object.values(gpt.params)]);
      }
    });
  }

  Deno.test(`measure() reports the heap break's high-water beside the meter [${backend}]`, async () => {
    await initBackend({ backend });
    const h = heapTracker()!;
    const r = await measure(() => tf.zeros([1 << 20]).dispose());
    assert.equal(r.physicalKind, "wasm-heap");
    assert.equal(r.peakBytes, 4 << 20);
    assert.ok(r.physicalPeakBytes <= h.current && r.physicalPeakBytes >= h.allocations.live + (4 << 20));
  });
}

Deno.test("wasm binary: the break word of the tfjs module is among the candidates and verified", async () => {
  await initBackend({ backend: "wasm" });
  const bytes = capturedWasm()?.bytes;
  assert.ok(bytes, "initBackend caught the module's binary");
  const info = findBreakCandidates(bytes);
  assert.ok(info.resizeImport >= 0);
  const h = heapTracker()!;
  const found = info.candidates.find((c) => c.address === h.breakAddress);
  assert.ok(found, "the tracker's break word is a candidate");
  assert.equal(found.initial, h.heapBase, "its initial value is the heap base");
  assert.throws(() => findBreakCandidates(new Uint8Array(16)), RangeError);
});

Deno.test("heap tracker: without the module's binary it reports the grown memory, not exact", () => {
  const heap = new Uint8Array(1 << 16);
  let next = 1024;
  const fake: WasmModuleLike = {
    HEAPU8: heap,
    _malloc: (n: number) => {
      const p = next;
      next += n + 8;
      return p;
    },
    _free: () => {},
  };
  const h = new WasmHeapTracker(fake, undefined);
  assert.equal(h.kind, "wasm-memory");
  assert.equal(h.exact, false);
  assert.equal(h.current, heap.byteLength);
  assert.equal(h.breakdown(), undefined);
  const p = fake._malloc(100);
  assert.deepEqual(h.allocations, { live: 100, peak: 100, count: 1 });
  fake._free(p);
  assert.deepEqual(h.allocations, { live: 0, peak: 100, count: 0 });
  h.resetPeak();
  assert.equal(h.allocations.peak, 0);
});

Deno.test("physicalMeter() falls back to the process's RSS", async () => {
  await initBackend({ backend: "cpu" });
  const p = physicalMeter();
  assert.equal(p.kind, "rss");
  assert.ok(p.current > 0);
  p.resetPeak();
  const big = new Uint8Array(64 << 20).fill(1); // touched: resident
  assert.ok(p.peak >= big.length, `peak ${p.peak} covers the touched 64 MiB`);
  setPhysicalMeter(undefined);
  assert.equal(physicalMeter().kind, "rss");
  await initBackend({ backend: "wasm" });
  assert.equal(physicalMeter().kind, "wasm-heap");
});
