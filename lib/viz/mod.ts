/**
 * Charts and tables for notebooks, reports and the README: Vega-Lite spec builders (`specs.ts`), headless rendering
 * to SVG and to a Jupyter MIME bundle (`render.ts`), HTML and Markdown tables (`table.ts`). `lineChartSvg` is the
 * older hand-written SVG chart, superseded by `lineChartSpec` + `renderSvg`.
 * @module
 */
export { type LineChartOptions, lineChartSvg, type Series } from "./line_chart.ts";
export { chartBundle, type ChartSpec, type MimeBundle, renderSvg, VEGALITE_MIME } from "./render.ts";
export {
  barChartSpec,
  type BarDatum,
  type ChartOptions,
  lineChartSpec,
  type LineChartSpecOptions,
  lossCurveSpec,
  type TradeoffPoint,
  tradeoffSpec,
} from "./specs.ts";
export { type Column, formatValue, htmlTable, markdownTable, type TableRow } from "./table.ts";
