import assert from "node:assert/strict";
import { main } from "../../experiments/run.ts";
import { z } from "zod";
import { defineExperiment, type Registry } from "../../experiments/_lib/experiment.ts";
import { capture, registry } from "./_fixtures.ts";

const GIT = { gitVersion: () => Promise.resolve("abc1234") };

/** Runs main on `reg` with captured IO and a temp --out dir; returns code, output and the dir. */
async function runIn(reg: Registry, args: string[]) {
  const io = capture();
  const out = await Deno.makeTempDir();
  const code = await main([...args, "--out", out, "--backend=cpu"], reg, io, GIT);
  return { code, io, out, stderr: io.stderr.join("\n"), stdout: io.stdout.join("\n") };
}

/** Runs main on the fake registry (see {@linkcode runIn}). */
const run = (args: string[]) => runIn(registry, args);

function assertNoStack(text: string) {
  assert.ok(!/\n\s+at /.test(text) && !text.includes("file://"), `stack trace in: ${text}`);
}

Deno.test("main() runs an experiment, prints a table and writes the results JSON", async () => {
  const r = await run(["echo", "--quick", "--steps=5", "--optimizer=sgd"]);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ *lr\s+steps\s+loss\s+technique\s+model$/m);
    assert.ok(r.stdout.includes("note: a quick run is a smoke test"), "quick figures are flagged");
    assert.match(r.stdout, /0\.333/);
    assert.ok(r.stderr.includes("echo: running"));
    const json = JSON.parse(await Deno.readTextFile(`${r.out}/echo.json`));
    assert.deepEqual(Object.keys(json), ["experiment", "config", "env", "rows"]);
    assert.equal(json.experiment, "echo");
    assert.deepEqual(json.config, {
      lr: 0.5,
      steps: 5,
      verbose: false,
      optimizer: "sgd",
      tag: "x",
      dims: [8, 16],
      seqLen: 32,
    });
    assert.deepEqual(Object.keys(json.env), [
      "backend",
      "deno",
      "tfjs",
      "git",
      "date",
      "quick",
      "threads",
      "provenance",
    ]);
    assert.deepEqual(json.env.threads, { count: 1, via: "single" }, "the cpu backend computes on one thread");
    assert.equal(json.env.backend, "cpu");
    assert.equal(json.env.git, "abc1234");
    assert.equal(json.env.quick, true);
    assert.equal(json.env.deno, Deno.version.deno);
    assert.match(json.env.tfjs, /^\d+\.\d+\.\d+/);
    assert.ok(!Number.isNaN(Date.parse(json.env.date)));
    assert.equal(json.rows.length, 1);
    assert.equal(json.rows[0].technique, "sgd");
    assert.equal(json.rows[0].quick, true);
    assert.equal(json.rows[0].missing, null);
    assert.ok(r.stdout.includes(`wrote ${r.out}/echo.json`));
  } finally {
    await Deno.remove(r.out, { recursive: true });
  }
});

Deno.test("main() without --quick uses defaults and CLI overrides", async () => {
  const r = await run(["echo", "--lr=0.25", "--verbose"]);
  try {
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(await Deno.readTextFile(`${r.out}/echo.json`));
    assert.equal(json.config.lr, 0.25);
    assert.equal(json.config.steps, 100);
    assert.equal(json.config.verbose, true);
    assert.equal(json.env.quick, false);
  } finally {
    await Deno.remove(r.out, { recursive: true });
  }
});

Deno.test("main() suggests a name for an unknown experiment (exit 2)", async () => {
  const io = capture();
  const code = await main(["basline"], registry, io, GIT);
  assert.equal(code, 2);
  assert.deepEqual(io.stderr, [
    'error: unknown experiment "basline". Did you mean "baseline"? Available: badRows, baseline, broken, echo',
  ]);
  assert.deepEqual(io.stdout, []);
});

Deno.test("main() reports unknown keys and bad values in one line (exit 2)", async () => {
  const cases: [string[], string][] = [
    [["echo", "--lrr=1"], 'error: unknown config key "lrr" for experiment "echo". Did you mean "lr"?'],
    [["echo", "--lr=abc"], 'error: bad value for "lr": expected number, got "abc"'],
    [
      ["echo", "--quick", "--steps=0"],
      'error: bad value for "steps": number must be greater than or equal to 1, got "0"',
    ],
    [["echo", "extra"], 'error: unexpected argument "extra": config overrides are written --key=value'],
  ];
  for (const [args, line] of cases) {
    const r = await run(args);
    await Deno.remove(r.out, { recursive: true });
    assert.equal(r.code, 2, args.join(" "));
    assert.deepEqual(r.io.stderr, [line]);
  }
});

Deno.test("main() reports backend errors from initBackend (exit 2)", async () => {
  const io = capture();
  const code = await main(["echo", "--backend=bogus"], registry, io, GIT);
  assert.equal(code, 2);
  assert.equal(io.stderr.length, 1);
  assert.match(io.stderr[0], /^error: Cannot initialize backend: 'backend' must be one of .*"bogus"/);
});

Deno.test("main() prints errors thrown by experiments without a stack (exit 1)", async () => {
  for (
    const [kind, message] of [
      ["dataset", "error: Fashion-MNIST not found: apt-get install dataset-fashion-mnist"],
      ["range", "error: Cannot train: 'steps' must be positive: current value is 0"],
    ]
  ) {
    const r = await run(["broken", `--kind=${kind}`]);
    await Deno.remove(r.out, { recursive: true });
    assert.equal(r.code, 1);
    assert.equal(r.io.stderr.at(-1), message);
    assertNoStack(r.stderr);
  }
});

Deno.test("main() prints the stack with MEMTRAIN_DEBUG=1", async () => {
  Deno.env.set("MEMTRAIN_DEBUG", "1");
  try {
    const r = await run(["broken"]);
    await Deno.remove(r.out, { recursive: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DatasetNotFoundError: Fashion-MNIST not found[^\n]*\n\s+at /);
  } finally {
    Deno.env.delete("MEMTRAIN_DEBUG");
  }
});

Deno.test("main() rejects malformed rows (exit 1)", async () => {
  const r = await run(["badRows"]);
  await Deno.remove(r.out, { recursive: true });
  assert.equal(r.code, 1);
  assert.deepEqual(r.io.stderr.slice(-1), [
    'error: experiment "badRows" returned invalid rows: row 0 key "nested" is a object; use string, number, boolean or null',
  ]);
});

Deno.test("main() --list, --help and <name> --help exit 0", async () => {
  let io = capture();
  assert.equal(await main(["--list"], registry, io), 0);
  assert.match(io.stdout.join("\n"), /echo\s+Returns its config as one row/);
  io = capture();
  assert.equal(await main(["--help"], registry, io), 0);
  assert.match(io.stdout.join("\n"), /^Usage: deno task experiment/);
  io = capture();
  assert.equal(await main(["echo", "--help"], registry, io), 0);
  assert.match(io.stdout.join("\n"), /--lr=<number>\s+default 0\.1, quick 0\.5\s+learning rate/);
  assert.match(io.stdout.join("\n"), /--optimizer=<adam\|galore\|sgd>/);
  io = capture();
  assert.equal(await main([], registry, io), 2);
  assert.match(io.stderr.join("\n"), /^Usage:/);
});

Deno.test("run.ts as a subprocess: one error line, exit 2, no stack", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "experiments/run.ts", "no-such-experiment"],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr).trim();
  assert.equal(code, 2);
  assert.match(text, /^error: unknown experiment "no-such-experiment"\. .*Available: /);
  assert.equal(text.split("\n").length, 1);
});

Deno.test("main() reads the git version when the run starts: artifacts written into --out do not mark it dirty", async () => {
  const writes = defineExperiment({
    name: "writes",
    description: "writes an artifact next to its results",
    schema: z.object({}),
    quick: {},
    async run(_config, ctx) {
      await Deno.writeTextFile(`${ctx.outDir}/artifact.txt`, "x");
      return [{ technique: "t", model: "m" }];
    },
  });
  const io = capture();
  const out = await Deno.makeTempDir();
  try {
    // A stand-in for `git status`: "dirty" once the artifact exists.
    const git = async () => (await Deno.stat(`${out}/artifact.txt`).then(() => true, () => false)) ? "dirty" : "clean";
    const code = await main(["writes", "--out", out, "--backend=cpu"], { writes }, io, { gitVersion: git });
    assert.equal(code, 0, io.stderr.join("\n"));
    assert.equal(JSON.parse(await Deno.readTextFile(`${out}/writes.json`)).env.git, "clean");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("main() refuses an experiment that returns no rows and writes nothing (exit 1)", async () => {
  const empty = defineExperiment({
    name: "empty",
    description: "Measures the variants it is given",
    schema: z.object({ variants: z.array(z.enum(["a", "b"])).default(["a"]) }),
    quick: {},
    run: () => Promise.resolve([]),
  });
  const r = await runIn({ empty }, ["empty"]);
  try {
    assert.equal(r.code, 1);
    assert.deepEqual(r.io.stderr.slice(-1), [
      'error: experiment "empty" returned invalid rows: no rows (nothing was measured; check list-valued config keys)',
    ]);
    assert.deepEqual([...Deno.readDirSync(r.out)], [], "no result file");
    const bad = await runIn({ empty }, ["empty", "--variants="]);
    await Deno.remove(bad.out, { recursive: true });
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.io.stderr, [
      'error: bad value for "variants": expected a comma-separated list of at least one value ("a", "b"), got ""',
    ]);
  } finally {
    await Deno.remove(r.out, { recursive: true });
  }
});
