import assert from "node:assert/strict";
import { parseCli } from "../../experiments/_lib/cli.ts";
import { UsageError } from "../../experiments/_lib/errors.ts";

Deno.test("parseCli() reads the name, flags, options and overrides", () => {
  const a = parseCli(["baseline", "--quick", "--out", "/tmp/r", "--backend=cpu", "--lr=0.1", "--verbose"]);
  assert.deepEqual(a, {
    name: "baseline",
    help: false,
    list: false,
    quick: true,
    inProcess: false,
    quiet: false,
    resume: false,
    skipNonFinite: false,
    allowDirty: false,
    out: "/tmp/r",
    backend: "cpu",
    overrides: [{ key: "lr", value: "0.1" }, { key: "verbose", value: undefined }],
  });
});

Deno.test("parseCli() reads --allowDirty as a flag, not a config override", () => {
  assert.equal(parseCli(["memory", "--allowDirty"]).allowDirty, true);
  assert.deepEqual(parseCli(["memory", "--allowDirty"]).overrides, []);
});

Deno.test("parseCli() reads --in-process as a flag, not a config override", () => {
  const a = parseCli(["memory", "--in-process", "--steps=3"]);
  assert.equal(a.inProcess, true);
  assert.deepEqual(a.overrides, [{ key: "steps", value: "3" }]);
});

Deno.test("parseCli() accepts --out=DIR, --backend NAME, --list and -h", () => {
  const a = parseCli(["--out=x", "--backend", "wasm", "--list", "-h"]);
  assert.equal(a.out, "x");
  assert.equal(a.backend, "wasm");
  assert.ok(a.list && a.help);
  assert.equal(a.name, undefined);
});

Deno.test("parseCli() keeps '=' inside values and empty values", () => {
  assert.deepEqual(parseCli(["x", "--tag=a=b", "--dims="]).overrides, [
    { key: "tag", value: "a=b" },
    { key: "dims", value: "" },
  ]);
});

Deno.test("parseCli() rejects a missing option value, unknown short options and extra positionals", () => {
  assert.throws(() => parseCli(["x", "--out"]), UsageError);
  assert.throws(() => parseCli(["x", "--backend", "--quick"]), UsageError);
  assert.throws(() => parseCli(["x", "-q"]), /unknown option "-q"/);
  assert.throws(() => parseCli(["x", "lr=3"]), /unexpected argument "lr=3"/);
  assert.throws(() => parseCli(["x", "--=3"]), UsageError);
});

Deno.test("parseCli() reads --quiet and --shard I/N; a bad shard is a usage error naming the value", () => {
  const a = parseCli(["memory", "--quiet", "--shard", "2/3"]);
  assert.equal(a.quiet, true);
  assert.deepEqual(a.shard, { index: 2, count: 3 });
  assert.deepEqual(parseCli(["memory", "--shard=1/1"]).shard, { index: 1, count: 1 });
  for (const bad of ["0/3", "4/3", "1/0", "a/b", "2", "1/2/3"]) {
    assert.throws(() => parseCli(["memory", `--shard=${bad}`]), {
      name: "UsageError",
      message: `option --shard must be I/N with 1 <= I <= N, e.g. --shard=2/4: current value is "${bad}"`,
    });
  }
});

Deno.test("parseCli() reads --resume, --skipNonFinite and --checkpointEvery N; bad values are usage errors", () => {
  const a = parseCli(["mesa", "--resume", "--skipNonFinite", "--checkpointEvery", "50", "--lr=1"]);
  assert.equal(a.resume, true);
  assert.equal(a.skipNonFinite, true);
  assert.equal(a.checkpointEvery, 50);
  assert.deepEqual(a.overrides, [{ key: "lr", value: "1" }]);
  assert.equal(parseCli(["mesa", "--checkpointEvery=7"]).checkpointEvery, 7);
  assert.equal(parseCli(["mesa"]).checkpointEvery, undefined);
  for (const bad of ["0", "-1", "1.5", "x", "", "1e3", "0x10"]) {
    assert.throws(() => parseCli(["mesa", `--checkpointEvery=${bad}`]), {
      name: "UsageError",
      message: `option --checkpointEvery must be a positive integer: current value is "${bad}"`,
    });
  }
  assert.throws(() => parseCli(["mesa", "--checkpointEvery"]), /needs a value, e.g. --checkpointEvery=100/);
  assert.throws(() => parseCli(["mesa", "--resume=yes"]), /option --resume takes no value: current value is "yes"/);
});
