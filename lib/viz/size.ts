/**
 * The size check the chart builders share.
 * @module
 */

/**
 * Throws unless `width` and `height` (when given) are positive finite numbers.
 *
 * @example Usage
 * ```ts
 * import { checkChartSize } from "./size.ts";
 * import assert from "node:assert/strict";
 *
 * checkChartSize("a chart", { width: 420 });
 * assert.throws(() => checkChartSize("a chart", { height: 0 }), /'height' must be a positive number: current value is 0/);
 * ```
 * @throws {RangeError} naming the option and its value.
 */
export function checkChartSize(what: string, options: { width?: number; height?: number }): void {
  for (const k of ["width", "height"] as const) {
    const v = options[k];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new RangeError(`Cannot build ${what}: '${k}' must be a positive number: current value is ${v}`);
    }
  }
}
