import assert from "node:assert/strict";
import { editsOf, main, occurrences, staleReason, testSummary } from "../../tools/mutants.ts";
import { type Mutant, MUTANTS } from "../../tools/mutants_catalogue.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function read(file: string): string | undefined {
  try {
    return Deno.readTextFileSync(`${ROOT}${file}`);
  } catch {
    return undefined;
  }
}

Deno.test("mutants: every catalogue entry matches today's sources exactly once and names existing tests", () => {
  const names = new Set<string>();
  for (const m of MUTANTS) {
    assert.ok(!names.has(m.name), `duplicate mutant name ${m.name}`);
    names.add(m.name);
    assert.ok(m.description.length > 10 && !m.description.includes("\n"), `${m.name}: a one-line description`);
    assert.ok(m.tests.length > 0 && m.tests.every((t) => t.startsWith("tests/")), `${m.name}: test files`);
    assert.ok((m.edits === undefined) !== (m.file === undefined), `${m.name}: either file/find/replace or edits`);
    assert.equal(staleReason(m, read), undefined, `${m.name} is stale`);
  }
  const areas = new Set(MUTANTS.map((m) => m.area));
  for (const area of ["nn", "backend", "mesa", "checkpoint", "memory", "optim", "train", "data", "experiments"]) {
    assert.ok(areas.has(area as Mutant["area"]), `no mutant for ${area}`);
  }
});

Deno.test("mutants: a find text that matches zero or two times makes the mutant stale", () => {
  const m = (find: string): Mutant => ({
    name: "x",
    area: "nn",
    description: "a test mutant",
    file: "a.ts",
    find,
    replace: "z",
    tests: ["t.ts"],
  });
  const files: Record<string, string> = { "a.ts": "let a = 1; let b = 1;", "t.ts": "" };
  const readFake = (f: string) => files[f];
  assert.equal(staleReason(m("a = 1"), readFake), undefined);
  assert.match(staleReason(m("= 1"), readFake)!, /matches 2 times/);
  assert.match(staleReason(m("c = 1"), readFake)!, /matches 0 times/);
  assert.match(staleReason({ ...m("a = 1"), file: "b.ts" }, readFake)!, /no such file/);
  assert.match(staleReason({ ...m("a = 1"), tests: ["u.ts"] }, readFake)!, /test file u.ts does not exist/);
  assert.match(staleReason({ ...m("a = 1"), replace: "a = 1" }, readFake)!, /equals the find text/);
  assert.equal(occurrences("aaaa", "aa"), 2, "non-overlapping");
  assert.deepEqual(editsOf(m("a = 1")), [{ file: "a.ts", find: "a = 1", replace: "z" }]);
});

Deno.test("mutants: the deno test summary is parsed (a run without one is an error, not a catch)", () => {
  assert.deepEqual(testSummary("x ... ok\n\nok | 12 passed (3 steps) | 0 failed | 4 ignored (1s)\n"), {
    passed: 12,
    failed: 0,
  });
  assert.deepEqual(testSummary("\x1b[31mFAILED\x1b[0m | 3 passed | 2 failed (1s)\n"), { passed: 3, failed: 2 });
  assert.equal(testSummary('error: Module not found "file:///x.ts".\n'), undefined);
});

Deno.test("mutants: --jobs must be a positive integer (the error names the option and the value)", async () => {
  for (const bad of ["0", "-1", "1.5", "two"]) {
    await assert.rejects(main(["--jobs", bad, "--list"]), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, `mutants: '--jobs' must be a positive integer: current value is "${bad}"`);
      return true;
    });
  }
});
