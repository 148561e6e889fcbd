/**
 * Memory measurement: the unique-buffer meter (logical), the physical meter beside it (the wasm heap's break, or RSS)
 * and `measure(fn)`. The analytic saved-activation count is
 * `predictSaved` in `lib/nn/analytic.ts` (it reads layer specs and policies, which sit above the meter).
 * @module
 */
export { type MemoryMeter, meter, type TimelineSpan } from "./meter.ts";
export { measure, type Measurement, mib } from "./measure.ts";
export {
  type HeapBreakdown,
  type PhysicalKind,
  type PhysicalMeter,
  physicalMeter,
  setPhysicalMeter,
} from "./physical.ts";
