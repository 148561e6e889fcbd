import assert from "node:assert/strict";
import {
  backendOptions,
  backendOptionsFromEnv,
  DEFAULT_BACKEND_OPTIONS,
  fusedKernelsEnabled,
  initBackend,
  setFusedKernels,
  setFusedSimd,
} from "../../lib/backend/mod.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("backendOptionsFromEnv: each MEMTRAIN_ variable maps to its option, unset ones are left out", () => {
  assert.deepEqual(backendOptionsFromEnv(env({})), {});
  assert.deepEqual(
    backendOptionsFromEnv(env({
      MEMTRAIN_BACKEND: "wasm",
      MEMTRAIN_FUSED: "0",
      MEMTRAIN_FUSED_MESA: "0",
      MEMTRAIN_BLAS_THREADS: "3",
      MEMTRAIN_BLAS_POOL: "1",
      MEMTRAIN_BLAS_DEFER: "0",
      MEMTRAIN_BLAS_PATH: "/x/libopenblas.so",
    })),
    {
      backend: "wasm",
      fused: false,
      fusedOff: ["mesa"],
      blasThreads: "3",
      blasPool: true,
      blasDefer: false,
      blasPath: "/x/libopenblas.so",
    },
  );
  // only "0"/"1" are flags; MEMTRAIN_FUSED_MESA only turns Mesa off
  assert.deepEqual(backendOptionsFromEnv(env({ MEMTRAIN_FUSED: "yes", MEMTRAIN_FUSED_MESA: "1" })), {});
});

Deno.test("initBackend resolves the options object (options, else defaults); the setters change it", async () => {
  const ignoreEnv = ["MEMTRAIN_FUSED", "MEMTRAIN_FUSED_MESA", "MEMTRAIN_BLAS_DEFER", "MEMTRAIN_BLAS_POOL"]
    .some((v) => Deno.env.get(v) !== undefined);
  await initBackend({ backend: "wasm", fusedOff: ["optim"], simd: false });
  assert.equal(backendOptions().simd, false);
  assert.deepEqual(backendOptions().fusedOff, ["optim"]);
  assert.equal(fusedKernelsEnabled("optim"), false);
  assert.equal(fusedKernelsEnabled("nn"), backendOptions().fused);
  await initBackend({ backend: "wasm" }); // resolved again: back to the defaults (or the environment)
  if (!ignoreEnv) {
    const { fused, fusedOff, simd, blasDefer, blasPool } = backendOptions();
    const d = DEFAULT_BACKEND_OPTIONS;
    assert.deepEqual({ fused, fusedOff, simd, blasDefer, blasPool }, {
      fused: d.fused,
      fusedOff: d.fusedOff,
      simd: d.simd,
      blasDefer: false,
      blasPool: false,
    });
  }
  const o = backendOptions();
  assert.equal(setFusedSimd(false), o.simd);
  assert.equal(backendOptions().simd, false);
  setFusedSimd(o.simd);
  assert.equal(setFusedKernels(false, "mesa"), !o.fusedOff.includes("mesa"));
  assert.ok(backendOptions().fusedOff.includes("mesa"));
  assert.equal(setFusedKernels(true, "mesa"), false);
  assert.equal(setFusedKernels(!o.fused), o.fused);
  setFusedKernels(o.fused);
  assert.deepEqual(backendOptions(), o);
  assert.throws(() => (backendOptions() as { fused: boolean }).fused = false, TypeError); // frozen: use the setters
});

Deno.test("initBackend (subprocess): MEMTRAIN_FUSED*, MEMTRAIN_BLAS_* set the options; explicit options win", async () => {
  const script = `
    import { initBackend, backendOptions, fusedActive } from "./lib/backend/mod.ts";
    import "./lib/nn/_fused.ts";
    await initBackend({ backend: "wasm" });
    const fromEnv = { ...backendOptions(), nn: fusedActive("nn") };
    await initBackend({ backend: "wasm", fused: true, fusedOff: [], blasDefer: false });
    const explicit = { ...backendOptions(), nn: fusedActive("nn"), mesa: fusedActive("mesa") };
    console.log(JSON.stringify({ fromEnv, explicit }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../../", import.meta.url).pathname,
    env: {
      NO_COLOR: "1",
      MEMTRAIN_FUSED: "0",
      MEMTRAIN_FUSED_MESA: "0",
      MEMTRAIN_BLAS_DEFER: "1",
      MEMTRAIN_BLAS_PATH: "/nonexistent/libblas.so",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const { fromEnv, explicit } = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.equal(fromEnv.fused, false);
  assert.deepEqual(fromEnv.fusedOff, ["mesa"]);
  assert.equal(fromEnv.blasDefer, true);
  assert.equal(fromEnv.blasPool, true, "blasPool defaults to blasDefer");
  assert.equal(fromEnv.blasPath, "/nonexistent/libblas.so");
  assert.equal(fromEnv.nn, false);
  assert.equal(explicit.fused, true);
  assert.deepEqual(explicit.fusedOff, []);
  assert.equal(explicit.blasDefer, false);
  assert.equal(explicit.blasPool, false);
  assert.equal(explicit.nn, true);
  assert.equal(explicit.mesa, true);
});

Deno.test("lib/ reads memtrain's environment only in initBackend (and the dataset directory)", async () => {
  const allowed = new Set(["backend/init.ts", "data/fashion_mnist.ts"]);
  const root = new URL("../../lib/", import.meta.url);
  const offenders: string[] = [];
  async function walk(dir: URL, rel: string): Promise<void> {
    for await (const e of Deno.readDir(dir)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), path);
      else if (e.name.endsWith(".ts") && !allowed.has(path)) {
        const text = await Deno.readTextFile(new URL(e.name, dir));
        if (/Deno\.env\b/.test(text)) offenders.push(path);
      }
    }
  }
  await walk(root, "");
  assert.deepEqual(offenders, [], "only lib/backend/init.ts may read the MEMTRAIN_ switches");
});
