import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, type BackendName, initBackend } from "../../lib/backend/mod.ts";

Deno.test("initBackend: an unknown backend name is a RangeError naming the value", async () => {
  await assert.rejects(
    () => initBackend({ backend: "gpu" as BackendName }),
    (e: unknown) =>
      e instanceof RangeError && e.message.includes('current value is "gpu"') && e.message.includes("blas"),
  );
});

Deno.test("initBackend: cpu and wasm report their names and are remembered by backendInfo()", async () => {
  for (const name of ["cpu", "wasm"] as const) {
    const info = await initBackend({ backend: name });
    assert.equal(info.name, name);
    assert.equal(info.tfBackend, name);
    assert.equal(tf.getBackend(), name);
    assert.deepEqual(backendInfo(), info);
  }
});

Deno.test("initBackend: MEMTRAIN_BACKEND=nope (subprocess) is a RangeError naming the value", async () => {
  const script = `
    import { initBackend } from "./lib/backend/mod.ts";
    try { await initBackend(); } catch (e) { console.log(e.constructor.name + ": " + e.message); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { MEMTRAIN_BACKEND: "nope", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stdout), /^RangeError: .*current value is "nope"/);
});
