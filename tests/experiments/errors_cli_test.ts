import assert from "node:assert/strict";

async function runCli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "experiments/run.ts", ...args],
    env: { NO_COLOR: "1", MEMTRAIN_BACKEND: "wasm", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("deno task experiment: a missing dataset is one clear line, with how to install it, and no stack", async () => {
  const { code, stderr } = await runCli(["baseline", "--quick", "--models=vit", "--out", await Deno.makeTempDir()], {
    MEMTRAIN_FASHION_MNIST_DIR: "/nonexistent/fashion-mnist",
  });
  assert.equal(code, 1);
  assert.match(stderr, /error: .*fashion-mnist.*apt-get install dataset-fashion-mnist/i);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
});

Deno.test("deno task experiment: an unknown experiment name suggests the closest one, exit 2", async () => {
  const { code, stderr } = await runCli(["quickstrat"]);
  assert.equal(code, 2);
  assert.match(stderr, /error: unknown experiment "quickstrat"\. Did you mean "quickstart"\?/);
  assert.doesNotMatch(stderr, /^\s+at /m);
});
