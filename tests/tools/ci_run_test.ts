import assert from "node:assert/strict";

const CI_RUN = new URL("../../.ci/run", import.meta.url).pathname;

/** Runs `.ci/run --parse-test-log` (or `--parse-mutants-log`) on `log` and returns its output. */
async function parse(log: string, which = "--parse-test-log"): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".log" });
  try {
    await Deno.writeTextFile(file, log);
    const { code, stdout } = await new Deno.Command("bash", { args: [CI_RUN, which, file] }).output();
    assert.equal(code, 0);
    return new TextDecoder().decode(stdout).trim();
  } finally {
    await Deno.remove(file);
  }
}

Deno.test(".ci/run parses deno test summary lines (passed, failed, ignored)", async () => {
  assert.equal(await parse("x ... ok\n\nok | 12 passed (3 steps) | 0 failed (1s)\n"), "12 0 0");
  assert.equal(await parse("FAILED | 10 passed | 2 failed (3 steps) (2s)\n"), "10 2 0");
  assert.equal(await parse("ok | 5 passed | 0 failed | 2 ignored (900ms)\n"), "5 0 2");
  assert.equal(await parse("FAILED | 5 passed | 1 failed | 3 ignored | 4 filtered out (9ms)\n"), "5 1 3");
  assert.equal(await parse("\x1b[32mok\x1b[0m | 3 passed | 0 failed (4ms)\n"), "3 0 0");
  assert.equal(await parse("error: Type checking failed.\n"), "");
  // deno task test runs two deno test invocations: their summaries add up
  assert.equal(
    await parse("ok | 1 passed | 0 failed (1ms)\nFAILED | 4 passed | 1 failed | 2 ignored (1ms)\n"),
    "5 1 2",
  );
});

Deno.test(".ci/run parses the mutants summary line (caught, and survived + stale + errors)", async () => {
  const which = "--parse-mutants-log";
  assert.equal(
    await parse("CAUGHT a 1s\nmutants: 38 caught, 0 survived, 0 stale, 0 errors (130.2 s)\n", which),
    "38 0",
  );
  assert.equal(await parse("mutants: 30 caught, 2 survived, 1 stale, 4 errors (9 s)\n", which), "30 7");
  assert.equal(await parse("error: Module not found\n", which), "");
});

Deno.test(".ci/run parses a real deno test log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/sample_test.ts`,
      `Deno.test("a", () => {});
Deno.test("b", async (t) => { await t.step("s", () => {}); });
Deno.test({ name: "c", ignore: true, fn: () => {} });
Deno.test("d", () => { throw new Error("boom"); });
`,
    );
    const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-config", `${dir}/sample_test.ts`],
      cwd: dir,
      env: { NO_COLOR: "1" },
    }).output();
    const log = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(await parse(log), "2 1 1", log);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".ci/run is valid bash and executable", async () => {
  const { code, stderr } = await new Deno.Command("bash", { args: ["-n", CI_RUN] }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.ok(((await Deno.stat(CI_RUN)).mode ?? 0o755) & 0o111, ".ci/run must be executable");
});
