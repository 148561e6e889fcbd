/**
 * Runs a test on each backend memtrain supports (wasm, cpu and blas). A backend that cannot run here (blas without
 * OpenBLAS, or with `MEMTRAIN_TEST_BLAS=0`) is still registered, as an ignored test whose name says why, so a missing
 * library shows up in the summary's ignored count instead of vanishing.
 * @module
 */
import { findBlas, initBackend } from "../../lib/backend/mod.ts";
import type { BackendName } from "../../lib/backend/mod.ts";
import { unlessSkipped } from "./skip.ts";

export { ignoredName, unlessSkipped } from "./skip.ts";

/** The backends the numeric tests cover. */
export type TestBackend = "wasm" | "cpu" | "blas";

/** Every backend the numeric tests are written for, available here or not. */
export const ALL_BACKENDS: readonly TestBackend[] = ["wasm", "cpu", "blas"];

function blasSkipReason(): string | undefined {
  if (Deno.env.get("MEMTRAIN_TEST_BLAS") === "0") return "MEMTRAIN_TEST_BLAS=0";
  return findBlas().lib === undefined ? "no OpenBLAS library found (install libopenblas0-pthread)" : undefined;
}

/** Why the blas backend cannot be tested here, or undefined when it can. */
export const BLAS_SKIP_REASON: string | undefined = blasSkipReason();

/** True when a BLAS library loads here and `MEMTRAIN_TEST_BLAS` is not "0". */
export const BLAS_AVAILABLE: boolean = BLAS_SKIP_REASON === undefined;

/** Backends the numeric tests run on here. */
export const TEST_BACKENDS: BackendName[] = ALL_BACKENDS.filter((b) => b !== "blas" || BLAS_AVAILABLE);

/** `{ name, ignore }` for a test that needs OpenBLAS (see {@linkcode unlessSkipped}). */
export function needsBlas(name: string): { name: string; ignore: boolean } {
  return unlessSkipped(name, BLAS_SKIP_REASON);
}

/**
 * Registers `Deno.test("<name> [<backend>]")` for every backend in {@linkcode ALL_BACKENDS}; one that cannot run
 * here, or that `skip` names (with the reason, e.g. too slow there), is registered as ignored with the reason in its
 * name.
 */
export function testOnBackends(
  name: string,
  fn: (backend: BackendName) => void | Promise<void>,
  skip: Partial<Record<TestBackend, string>> = {},
): void {
  for (const backend of ALL_BACKENDS) {
    const reason = (backend === "blas" ? BLAS_SKIP_REASON : undefined) ?? skip[backend];
    Deno.test({
      ...unlessSkipped(`${name} [${backend}]`, reason),
      async fn() {
        await initBackend({ backend });
        await fn(backend);
      },
    });
  }
}
