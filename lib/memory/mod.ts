/**
 * Memory measurement: the unique-buffer meter and `measure(fn)`. The analytic saved-activation count is
 * `predictSaved` in `lib/nn/analytic.ts` (it reads layer specs and policies, which sit above the meter).
 * @module
 */
export { type MemoryMeter, meter } from "./meter.ts";
export { measure, type Measurement, mib } from "./measure.ts";
