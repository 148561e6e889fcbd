/**
 * Backend selection and fixes, the backend options, and the fused-kernel registry.
 * @module
 */
export {
  type BackendInfo,
  backendInfo,
  type BackendName,
  backendOptionsFromEnv,
  type EnvBackendOptions,
  initBackend,
  type InitBackendOptions,
} from "./init.ts";
export {
  type BackendOptions,
  backendOptions,
  DEFAULT_BACKEND_OPTIONS,
  fusedKernelsEnabled,
  HEAP_MODES,
  type HeapMode,
  setFusedKernels,
  setFusedSimd,
  setMesaSplit,
} from "./options.ts";
export {
  fusedActive,
  fusedKernels,
  fusedKernelsInstalled,
  type FusedOp,
  fusedOp,
  type FusedOpSpec,
  installFusedKernels,
  runFused,
  type RunKernel,
} from "./registry.ts";
export { isWasmPatched, patchWasm } from "./wasm_patches.ts";
export {
  blasCandidates,
  type BlasLibrary,
  blasSgemm,
  DEFAULT_BLAS_CANDIDATES,
  dlopenFirst,
  findBlas,
  type FindBlasResult,
  loadBlas,
  type SgemmOptions,
} from "./blas.ts";
export {
  type BlasPatchInfo,
  blasPatchInfo,
  deferredMatMulActive,
  drainDeferred,
  isBlasPatched,
  patchBlas,
  type PatchBlasOptions,
  unpatchBlas,
  whenBlasPoolReady,
} from "./blas_patch.ts";
export { bufferAddress, GemmPool, type GemmPoolOptions } from "./gemm_pool.ts";
export { heapStep, heapTracker, type JsAllocations, WasmHeapTracker } from "./heap_tracker.ts";
export { ARENA_THRESHOLD, type ArenaMode, type ArenaStats, type HeapArena } from "./heap_arena.ts";
export { type GemmSpec, splitGemm } from "./gemm_split.ts";
export { AllocationError, checkAllocation, installAllocationContext, WASM_HEAP_MAX } from "./alloc_error.ts";
