/**
 * Memory measurement: the unique-buffer meter, `measure(fn)`, and the analytic saved-activation count.
 * @module
 */
export { type MemoryMeter, meter } from "./meter.ts";
export { measure, type Measurement, mib } from "./measure.ts";
export { type PredictedSaved, predictSaved, predictSavedBytes } from "./analytic.ts";
