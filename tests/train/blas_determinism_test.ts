/**
 * Training on blas is bit-for-bit the same run to run: in fresh processes (which start at their own times, on a
 * machine whose load varies) and after another model trained in the same process (so the heap arena holds another
 * plan, other holes and other addresses). What the heap arena places where must never change a result.
 */
import assert from "node:assert/strict";
import { BLAS_AVAILABLE } from "../_util/backends.ts";
import { type Trained, trainInProcess as trainIn } from "./_train_bits.ts";

for (const backend of BLAS_AVAILABLE ? ["blas", "wasm"] : ["wasm"]) {
  Deno.test(`training is bit-for-bit the same in fresh processes and after another run's heap plan [${backend}]`, async () => {
    const [a, b] = await Promise.all([trainIn(backend), trainIn(backend)]);
    const c = await trainIn(backend, "after-other");
    assert.ok(a.losses.every(Number.isFinite) && a.losses.length === 5, `losses ${a.losses}`);
    assert.notEqual(a.losses[0], a.losses[4], "the model trained");
    assert.ok(
      a.planned > 100 && c.planned > a.planned,
      `blocks placed by the arena's plan: ${a.planned}, ${c.planned}`,
    );
    const bits = (t: Trained) => ({ losses: t.losses, hash: t.hash });
    assert.deepEqual(bits(b), bits(a), "two fresh processes at once");
    assert.deepEqual(bits(c), bits(a), "after another model's run in the same process");
  });
}
