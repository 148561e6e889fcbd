import assert from "node:assert/strict";
import { createProgress, formatDuration } from "../../experiments/_lib/progress.ts";
import { main } from "../../experiments/run.ts";
import { capture, registry } from "./_fixtures.ts";

const MiB = 2 ** 20;

/** A fake clock and the lines and raw text a reporter writes. */
function harness(tty: boolean, quiet = false) {
  let t = 0;
  const lines: string[] = [];
  let raw = "";
  const p = createProgress({
    tty,
    quiet,
    writeLine: (s) => lines.push(s),
    writeRaw: (s) => (raw += s),
    now: () => t,
    interval: 10_000,
    columns: 200,
  });
  return { p, lines, raw: () => raw, advance: (ms: number) => (t += ms) };
}

Deno.test("formatDuration()", () => {
  assert.equal(formatDuration(42_400), "42s");
  assert.equal(formatDuration(185_000), "3m05s");
  assert.equal(formatDuration(3_720_000), "1h02m");
  assert.equal(formatDuration(NaN), "?");
});

Deno.test("progress without a terminal: plain lines at the first and last step and every interval", () => {
  const h = harness(false);
  for (let step = 1; step <= 100; step++) {
    h.p.step({ step, steps: 100, loss: 3 - step / 100, ms: 200, liveBytes: 64 * MiB });
    h.advance(200); // 200 ms per step: a line every 50 steps
  }
  assert.deepEqual(h.lines, [
    "step 1/100  loss 2.990  200 ms/step  live 64.0 MiB  ETA 20s",
    "step 51/100  loss 2.490  200 ms/step  live 64.0 MiB  ETA 10s",
    "step 100/100  loss 2.000  200 ms/step  live 64.0 MiB  ETA 0s",
  ]);
  assert.equal(h.raw(), "", "no terminal control codes");
});

Deno.test("progress on a terminal: one status line redrawn in place, cleared for log lines", () => {
  const h = harness(true);
  h.p.cell(0, 4, "gpt 8 baseline");
  h.p.step({ step: 5, steps: 10, loss: 2.5, ms: 100, liveBytes: 10 * MiB });
  assert.ok(
    h.raw().endsWith(
      "\r\x1b[2Kcell 1/4 gpt 8 baseline  [##########..........] 5/10  loss 2.500  " +
        "100 ms/step  live 10.0 MiB  ETA 1s",
    ),
    JSON.stringify(h.raw()),
  );
  h.p.log("a message");
  assert.equal(h.lines.at(-1), "a message");
  h.p.done();
  assert.ok(h.raw().endsWith("\r\x1b[2K"), "done() clears the status line");
});

Deno.test("progress of cells: n/N, elapsed and ETA from the cells done", () => {
  const h = harness(false);
  h.p.cell(0, 4, "a");
  h.advance(60_000);
  h.p.cell(1, 4, "b");
  h.advance(60_000);
  h.p.cell(2, 4, "c");
  assert.deepEqual(h.lines, [
    "cell 1/4 a  (0 done, elapsed 0s, ETA ?)",
    "cell 2/4 b  (1 done, elapsed 1m00s, ETA 3m00s)",
    "cell 3/4 c  (2 done, elapsed 2m00s, ETA 2m00s)",
  ]);
});

Deno.test("--quiet prints nothing but the table and errors", () => {
  const h = harness(true, true);
  h.p.cell(0, 1, "a");
  h.p.step({ step: 1, steps: 1, loss: 1, ms: 1, liveBytes: 0 });
  h.p.log("x");
  assert.deepEqual(h.lines, []);
  assert.equal(h.raw(), "");
});

Deno.test("main() --quiet: no progress lines on stderr; without it the run line shows the command", async () => {
  const out = await Deno.makeTempDir();
  try {
    let io = capture();
    assert.equal(await main(["echo", "--quiet", "--lr=0.2", "--out", out, "--backend=cpu"], registry, io), 0);
    assert.deepEqual(io.stderr, []);
    assert.ok(io.stdout.some((l) => l.startsWith("wrote ")));
    io = capture();
    assert.equal(await main(["echo", "--lr=0.2", "--out", out, "--backend=cpu"], registry, io), 0);
    assert.equal(io.stderr[0], "running echo on cpu: deno task experiment echo --lr=0.2");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
