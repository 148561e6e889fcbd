import assert from "node:assert/strict";
import { findNotebooks } from "../../tools/run_notebooks.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: { output_type: string; data?: Record<string, unknown>; name?: string }[];
}

const text = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);

Deno.test("every committed notebook carries the outputs of a full run, with the command and what it reproduces", async () => {
  const notebooks = await findNotebooks([`${ROOT}notebooks`]);
  assert.ok(notebooks.length >= 3);
  for (const path of notebooks) {
    const name = path.split("/").pop()!;
    const nb = JSON.parse(await Deno.readTextFile(path));
    const cells: Cell[] = nb.cells;
    const first = text(cells[0].source);
    assert.equal(cells[0].cell_type, "markdown", name);
    assert.match(first, /\*\*Reproduces:\*\*/, `${name}: the first cell names what it reproduces`);
    assert.match(first, /full run takes/, `${name}: the first cell says how long the full run takes`);
    assert.ok(
      first.includes(`deno task notebooks --save notebooks/${name}`),
      `${name}: the first cell has the command`,
    );
    const run = nb.metadata.memtrain;
    assert.ok(run, `${name}: no metadata.memtrain: save it with deno task notebooks --save`);
    assert.equal(run.quick, false, `${name}: saved from a quick run`);
    assert.equal(run.command, `deno task notebooks --save notebooks/${name}`);
    assert.match(run.git, /^[0-9a-f]{7,}$/, `${name}: saved from a clean checkout of a commit`);
    const code = cells.filter((c) => c.cell_type === "code" && text(c.source).trim());
    for (const [i, c] of code.entries()) {
      assert.ok(c.outputs?.length, `${name}: code cell ${i + 1} has no output`);
      assert.ok(!c.outputs!.some((o) => o.output_type === "error"), `${name}: code cell ${i + 1} has an error`);
    }
    const outputs = code.flatMap((c) => c.outputs!);
    const charts = outputs.filter((o) => o.data?.["application/vnd.vegalite.v5+json"] && o.data?.["image/svg+xml"]);
    assert.ok(charts.length >= 1, `${name}: no chart (Vega-Lite spec + SVG fallback)`);
    assert.ok(outputs.some((o) => String(o.data?.["text/html"] ?? "").startsWith("<table")), `${name}: no table`);
    assert.ok(!code.some((c) => text(c.source).includes("console.table")), `${name}: console.table instead of a table`);
    assert.ok(!outputs.some((o) => /quick true/.test(JSON.stringify(o))), `${name}: outputs of a quick run`);
  }
});
