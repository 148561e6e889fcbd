/**
 * Which implementation of the layers' (and Mesa's and Adam's) kernels runs: the stock tfjs ops, memtrain's fused
 * kernels with their plain JS loops, or the fused kernels with their WebAssembly SIMD loops. Every test that picks an
 * implementation goes through this file, so when the switch changes (today `setFusedKernels` / `setFusedSimd`, which
 * change the backend options object of `lib/backend/options.ts` until the next `initBackend`) only this file changes.
 *
 * The fused kernels exist only on the wasm backend (so also on blas); on cpu only the stock ops run, and the fused
 * variants of a test are registered as ignored with that reason rather than silently re-running the stock ops.
 * @module
 */
import {
  backendOptionsFromEnv,
  fusedActive,
  initBackend,
  setFusedKernels,
  setFusedSimd,
} from "../../lib/backend/mod.ts";
import type { BackendName } from "../../lib/backend/mod.ts";
import { ALL_BACKENDS, BLAS_SKIP_REASON, unlessSkipped } from "./backends.ts";

/** An implementation of the kernels. */
export type Implementation = "stock" | "fused-js" | "simd";

/** Every implementation, stock first. */
export const IMPLEMENTATIONS: readonly Implementation[] = ["stock", "fused-js", "simd"];

/** How test names show each implementation. */
export const IMPLEMENTATION_LABEL: Readonly<Record<Implementation, string>> = {
  stock: "stock",
  "fused-js": "fused JS",
  simd: "SIMD",
};

/** The switches the environment sets (read the way `initBackend` reads them). */
const ENV = backendOptionsFromEnv();

/** Options of {@linkcode implementationSkipReason}. */
export interface ImplementationNeeds {
  /** The test exercises Mesa's fused kernels (which `MEMTRAIN_FUSED_MESA=0` turns off on their own). */
  mesa?: boolean;
}

/** Why `impl` cannot run on `backend` here, or undefined when it can. */
export function implementationSkipReason(
  impl: Implementation,
  backend: BackendName,
  needs: ImplementationNeeds = {},
): string | undefined {
  if (backend === "blas" && BLAS_SKIP_REASON !== undefined) return BLAS_SKIP_REASON;
  if (impl === "stock") return undefined;
  if (backend !== "wasm" && backend !== "blas") return "fused kernels run only on wasm/blas";
  if (ENV.fused === false) return "fused kernels turned off with MEMTRAIN_FUSED=0";
  if (needs.mesa && ENV.fusedOff?.includes("mesa")) {
    return "Mesa's fused kernels turned off with MEMTRAIN_FUSED_MESA=0";
  }
  return undefined;
}

/** The implementations that can run on `backend` here. */
export function implementationsOn(backend: BackendName, needs: ImplementationNeeds = {}): Implementation[] {
  return IMPLEMENTATIONS.filter((impl) => implementationSkipReason(impl, backend, needs) === undefined);
}

/** Selects `impl`; returns a function that restores the previous selection. */
function select(impl: Implementation): () => void {
  const fused = setFusedKernels(impl !== "stock");
  const simd = setFusedSimd(impl === "simd");
  return () => {
    setFusedKernels(fused);
    setFusedSimd(simd);
  };
}

/**
 * Runs `fn` with `impl` selected (on the current backend) and restores the previous selection afterwards. Throws when
 * a fused implementation is asked for but the fused kernels are not active (a test would otherwise compare stock with
 * stock).
 */
export function withImplementation<T>(impl: Implementation, fn: () => T): T {
  const restore = select(impl);
  try {
    if (fusedActive() !== (impl !== "stock")) {
      throw new Error(`Cannot run with the ${IMPLEMENTATION_LABEL[impl]} kernels on this backend`);
    }
    return fn();
  } finally {
    restore();
  }
}

/** {@linkcode withImplementation} for an async `fn`. */
export async function withImplementationAsync<T>(impl: Implementation, fn: () => Promise<T>): Promise<T> {
  const restore = select(impl);
  try {
    if (fusedActive() !== (impl !== "stock")) {
      throw new Error(`Cannot run with the ${IMPLEMENTATION_LABEL[impl]} kernels on this backend`);
    }
    return await fn();
  } finally {
    restore();
  }
}

/**
 * Registers `Deno.test("<name> [<backend>, <implementation>]")` for every backend and implementation in `impls`; a
 * combination that cannot run here is registered as ignored with the reason in its name. `fn` runs with the
 * implementation selected.
 */
export function testOnImplementations(
  name: string,
  fn: (backend: BackendName, impl: Implementation) => void | Promise<void>,
  options: ImplementationNeeds & { impls?: readonly Implementation[] } = {},
): void {
  for (const backend of ALL_BACKENDS) {
    for (const impl of options.impls ?? IMPLEMENTATIONS) {
      const reason = implementationSkipReason(impl, backend, options);
      Deno.test({
        ...unlessSkipped(`${name} [${backend}, ${IMPLEMENTATION_LABEL[impl]}]`, reason),
        async fn() {
          await initBackend({ backend });
          await withImplementationAsync(impl, async () => await fn(backend, impl));
        },
      });
    }
  }
}
