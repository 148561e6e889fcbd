import assert from "node:assert/strict";
import { resolveConfig } from "../../experiments/_lib/config.ts";
import type { Row } from "../../experiments/_lib/experiment.ts";
import { combineRounds, memory } from "../../experiments/memory.ts";

const row = (technique: string, round: number, ms: number, peakMiB = 10): Row => ({
  technique,
  model: "gpt-small-L4/B16",
  round,
  peakMiB,
  heapPeakMiB: peakMiB + 1,
  savedMiB: 5,
  predictedPeakSavedMiB: null,
  msPerStep: ms,
});

Deno.test("memory --rounds=3: every cell once per round, rounds one after another", () => {
  const one = memory.cells!(resolveConfig(memory, [{ key: "techniques", value: "baseline,mesa-head-wise" }], true));
  assert.ok(one.every((c) => c.round === undefined), "one round: the cells are unchanged");
  const three = memory.cells!(
    resolveConfig(
      memory,
      [{ key: "techniques", value: "baseline,mesa-head-wise" }, { key: "rounds", value: "3" }],
      true,
    ),
  );
  assert.equal(three.length, 3 * one.length);
  assert.deepEqual(three.map((c) => c.round), [1, 2, 3].flatMap((r) => one.map(() => r)));
  assert.deepEqual(three.slice(one.length, 2 * one.length).map(({ round: _, ...c }) => c), one);
});

Deno.test("memory finalize with rounds: ratio to the same round's baseline, medians over rounds, memory from round 1", () => {
  // Round 2 is slow for everything (drift): the per-round ratios stay 1.2, 1.2 and 1.5.
  const rows = [
    row("baseline", 1, 100),
    row("mesa-head-wise", 1, 120, 6),
    row("baseline", 2, 200),
    row("mesa-head-wise", 2, 240, 6),
    row("baseline", 3, 100),
    row("mesa-head-wise", 3, 150, 6),
  ];
  const out = memory.finalize!(rows, resolveConfig(memory, [], true));
  assert.equal(out.length, 2);
  const mesa = out.find((r) => r.technique === "mesa-head-wise")!;
  assert.equal(mesa.rounds, 3);
  assert.equal(mesa.round, undefined);
  assert.equal(mesa.msPerStep, 150);
  assert.equal(mesa.msPerStepMin, 120);
  assert.equal(mesa.msPerStepMax, 240);
  assert.ok(Math.abs(Number(mesa.timeRatio) - 1.2) < 1e-12, `median ratio ${mesa.timeRatio}`);
  assert.equal(mesa.timeRatioMax, 1.5);
  assert.equal(mesa.peakRatio, 0.6);
  const base = out.find((r) => r.technique === "baseline")!;
  assert.equal(base.timeRatio, 1);
  assert.equal(base.msPerStep, 100);
  // Without rounds, finalize is the plain ratio to the baseline row.
  const plain = memory.finalize!(rows.filter((r) => r.round === 1).map(({ round: _, ...r }) => r), {} as never);
  assert.equal(plain.find((r) => r.technique === "mesa-head-wise")!.timeRatio, 1.2);
  assert.equal(combineRounds([row("baseline", 1, 7)])[0].msPerStep, 7);
});
