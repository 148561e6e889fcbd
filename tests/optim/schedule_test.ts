import assert from "node:assert/strict";
import { constantSchedule, warmupCosineSchedule } from "../../lib/optim/schedule.ts";
import { assertAllClose } from "../_util/assert_close.ts";

Deno.test("constantSchedule() returns its value at every step", () => {
  const s = constantSchedule(0.25);
  assert.deepEqual([0, 1, 1e6].map(s), [0.25, 0.25, 0.25]);
  assert.equal(constantSchedule(0)(3), 0);
});

Deno.test("warmupCosineSchedule() warms up linearly, then follows a half cosine to end", () => {
  const s = warmupCosineSchedule({ peak: 1, warmupSteps: 4, totalSteps: 12, end: 0.1, init: 0.2 });
  assertAllClose([0, 1, 2, 3, 4].map(s), [0.2, 0.4, 0.6, 0.8, 1]);
  // Decay over 8 steps: end + (peak - end) * (1 + cos(pi * t)) / 2.
  const expected = [4, 6, 8, 10, 12].map((k) => 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * (k - 4) / 8)));
  assertAllClose([4, 6, 8, 10, 12].map(s), expected);
  assertAllClose(s(8), 0.55); // halfway between peak and end
  assert.equal(s(12), 0.1);
  assert.equal(s(1000), 0.1);
  assert.equal(s(-5), 0.2);
});

Deno.test("warmupCosineSchedule() defaults init and end to 0 and decreases monotonically after warmup", () => {
  const s = warmupCosineSchedule({ peak: 3e-4, warmupSteps: 0, totalSteps: 100 });
  assert.equal(s(0), 3e-4);
  assert.equal(s(100), 0);
  for (let k = 1; k <= 100; k++) assert.ok(s(k) <= s(k - 1), `step ${k}`);
  assert.equal(warmupCosineSchedule({ peak: 1, warmupSteps: 10, totalSteps: 20 })(0), 0);
});

Deno.test("warmupCosineSchedule() throws std-style errors for bad options", () => {
  const base = { peak: 1, warmupSteps: 10, totalSteps: 100 };
  assert.throws(() => warmupCosineSchedule({ ...base, peak: 0 }), {
    name: "RangeError",
    message: "Cannot create warmupCosineSchedule: 'peak' must be a positive number: current value is 0",
  });
  assert.throws(() => warmupCosineSchedule({ ...base, warmupSteps: 1.5 }), {
    name: "RangeError",
    message: "Cannot create warmupCosineSchedule: 'warmupSteps' must be a non-negative integer: current value is 1.5",
  });
  assert.throws(() => warmupCosineSchedule({ ...base, totalSteps: 0 }), {
    name: "RangeError",
    message: "Cannot create warmupCosineSchedule: 'totalSteps' must be a positive integer: current value is 0",
  });
  assert.throws(() => warmupCosineSchedule({ ...base, totalSteps: 10 }), {
    name: "RangeError",
    message: "Cannot create warmupCosineSchedule: 'totalSteps' must be greater than 'warmupSteps' (10): " +
      "current value is 10",
  });
  assert.throws(() => warmupCosineSchedule({ ...base, end: -1 }), { name: "RangeError", message: /'end'/ });
  assert.throws(() => warmupCosineSchedule({ ...base, init: -1 }), { name: "RangeError", message: /'init'/ });
  assert.throws(() => constantSchedule(-1), {
    name: "RangeError",
    message: "Cannot create constantSchedule: 'value' must be a non-negative number: current value is -1",
  });
});
