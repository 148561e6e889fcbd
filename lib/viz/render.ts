/**
 * Renders Vega-Lite specs headless: to SVG (files, the README, notebooks' fallback) and to a Jupyter MIME bundle
 * (the spec under the Vega-Lite MIME type, which JupyterLab renders natively, plus the SVG for viewers that do not).
 * No DOM or canvas is needed: vega's `View` with `renderer: "none"` draws SVG as text.
 * @module
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** A Vega-Lite spec (vega-lite 6). */
export type ChartSpec = TopLevelSpec;

/**
 * The MIME type notebooks show specs under. Vega-Lite 6 specs use nothing Vega-Lite 5 lacks, and `v5` is the newest
 * Vega-Lite MIME type JupyterLab's built-in renderer (`@jupyterlab/vega5-extension`) handles.
 */
export const VEGALITE_MIME = "application/vnd.vegalite.v5+json";

/**
 * Renders a Vega-Lite spec to an SVG document (a string starting with `<svg`).
 *
 * @example Usage
 * ```ts
 * import { renderSvg } from "./render.ts";
 * import assert from "node:assert/strict";
 *
 * const svg = await renderSvg({
 *   data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] },
 *   mark: "line",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
 * });
 * assert.ok(svg.startsWith("<svg"));
 * ```
 * @throws {TypeError} when the spec does not compile.
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  let compiled;
  try {
    compiled = compile(spec).spec;
  } catch (e) {
    throw new TypeError(
      `Cannot render chart: the Vega-Lite spec does not compile: ${e instanceof Error ? e.message : e}`,
    );
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A Jupyter MIME bundle: MIME type → data. */
export type MimeBundle = Record<string, unknown>;

/**
 * The MIME bundle for `Deno.jupyter.display(bundle, { raw: true })`: the spec under {@linkcode VEGALITE_MIME} (an
 * interactive chart in JupyterLab), its SVG under `image/svg+xml` (GitHub, nbconvert, VS Code without the renderer)
 * and a text line naming the chart.
 *
 * @example Usage
 * ```ts
 * import { chartBundle, VEGALITE_MIME } from "./render.ts";
 * import assert from "node:assert/strict";
 *
 * const spec = { title: "t", data: { values: [{ x: 1 }] }, mark: "point" as const, encoding: { x: { field: "x", type: "quantitative" as const } } };
 * const bundle = await chartBundle(spec);
 * assert.deepEqual(Object.keys(bundle), [VEGALITE_MIME, "image/svg+xml", "text/plain"]);
 * // In a notebook: await Deno.jupyter.display(bundle, { raw: true });
 * ```
 */
export async function chartBundle(spec: ChartSpec): Promise<MimeBundle> {
  const title = typeof spec.title === "string" ? spec.title : "chart";
  return { [VEGALITE_MIME]: spec, "image/svg+xml": await renderSvg(spec), "text/plain": `<chart: ${title}>` };
}
