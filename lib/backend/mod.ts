/**
 * Backend selection and fixes.
 * @module
 */
export { type BackendInfo, backendInfo, type BackendName, initBackend, type InitBackendOptions } from "./init.ts";
export { isWasmPatched, patchWasm } from "./wasm_patches.ts";
export {
  FUSED_KERNELS,
  fusedKernelsActive,
  fusedKernelsEnabled,
  registerFusedKernels,
  runFused,
  setFusedKernels,
  setFusedSimd,
} from "./fused.ts";
export { MESA_KERNELS } from "./fused_mesa.ts";
export {
  blasCandidates,
  type BlasLibrary,
  blasSgemm,
  DEFAULT_BLAS_CANDIDATES,
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
export { type GemmSpec, splitGemm } from "./gemm_split.ts";
