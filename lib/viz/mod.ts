/**
 * Small, dependency-free charts for notebooks.
 * @module
 */
export { type LineChartOptions, lineChartSvg, type Series } from "./line_chart.ts";
