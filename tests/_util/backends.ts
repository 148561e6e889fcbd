/**
 * Runs a test on each backend memtrain supports here (wasm and cpu; blas too when OpenBLAS is installed and
 * `MEMTRAIN_TEST_BLAS` is not "0").
 * @module
 */
import { findBlas, initBackend } from "../../lib/backend/mod.ts";
import type { BackendName } from "../../lib/backend/mod.ts";

/** True when a BLAS library loads here and `MEMTRAIN_TEST_BLAS` is not "0". */
export const BLAS_AVAILABLE: boolean = Deno.env.get("MEMTRAIN_TEST_BLAS") !== "0" && findBlas().lib !== undefined;

/** Backends the numeric tests run on. */
export const TEST_BACKENDS: BackendName[] = BLAS_AVAILABLE ? ["wasm", "cpu", "blas"] : ["wasm", "cpu"];

/** Registers `Deno.test("<name> [<backend>]")` for every backend in {@linkcode TEST_BACKENDS}. */
export function testOnBackends(name: string, fn: (backend: BackendName) => void | Promise<void>): void {
  for (const backend of TEST_BACKENDS) {
    Deno.test(`${name} [${backend}]`, async () => {
      await initBackend({ backend });
      await fn(backend);
    });
  }
}
