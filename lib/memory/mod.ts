/**
 * Memory measurement: the unique-buffer meter, `measure(fn)`, and the analytic saved-activation count.
 * @module
 */
export { meter, type MemoryMeter } from "./meter.ts";
export { measure, type Measurement, mib } from "./measure.ts";
export { predictSaved, predictSavedBytes, type PredictedSaved } from "./analytic.ts";
