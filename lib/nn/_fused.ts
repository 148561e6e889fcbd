/**
 * Private: the layers' elementwise and layout work, re-exported from `./kernels/` (one file per concern). Each
 * function is an op of the backend's kernel registry (`lib/backend/registry.ts`): a fused wasm kernel when
 * `fusedActive("nn")` (wasm or blas backend, no gradient tape recording, not switched off in the backend options),
 * the plain tfjs ops everywhere else. Under `tf.grads` / `tf.valueAndGrads` the tape is on, so a layer's forward runs
 * the differentiable stock ops and tfjs autodiff stays an independent oracle for the explicit backward; the fused
 * kernels have no tfjs gradients on purpose.
 *
 * Both implementations return the same values within float32 rounding (tests/nn/kernels/ops_test.ts), and nothing
 * here changes what the layers save for backward.
 * @module
 */
export {
  attentionProbs,
  causalKernelsActive,
  causalLowerMatMul,
  causalLowerMatMulT,
  causalQkvGrad,
  causalScores,
  columnSum,
  columnSumLater,
  embed,
  gelu,
  geluGrad,
  layerNorm,
  layerNormGrad,
  linear,
  matMulLater,
  mergeHeads,
  softmaxGrad,
  softmaxXent,
  softmaxXentGrad,
  splitHeads,
} from "./kernels/mod.ts";
