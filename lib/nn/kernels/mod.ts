/**
 * The layers' fused kernels, one file per concern, each an op of the backend's kernel registry
 * (`lib/backend/registry.ts`) with its stock tfjs fallback: GELU, LayerNorm, the attention softmax and its causal
 * mask, the head layout, column sums and matmuls, the embedding, and softmax cross-entropy. Their kernels are in
 * the group `"nn"` (`BackendOptions.fusedOff` can turn them off alone); causal attention's blocked products
 * (`causal_matmul.ts`) are in the group `"causal"`.
 * @module
 */
import { GELU_KERNELS } from "./gelu.ts";
import { LAYER_NORM_KERNELS } from "./layernorm.ts";
import { SOFTMAX_KERNELS } from "./softmax.ts";
import { HEADS_KERNELS } from "./heads.ts";
import { MATMUL_KERNELS } from "./matmul.ts";
import { EMBED_KERNELS } from "./embed.ts";
import { XENT_KERNELS } from "./xent.ts";

/** The names the layers' fused kernels are registered under (backend "wasm"). */
export const NN_KERNELS = {
  ...GELU_KERNELS,
  ...LAYER_NORM_KERNELS,
  ...SOFTMAX_KERNELS,
  ...HEADS_KERNELS,
  ...MATMUL_KERNELS,
  ...EMBED_KERNELS,
  ...XENT_KERNELS,
} as const;

export { gelu, geluGrad } from "./gelu.ts";
export { layerNorm, layerNormGrad } from "./layernorm.ts";
export { attentionProbs, softmaxGrad } from "./softmax.ts";
export { causalMaskValues, checkCausalShape, lastVisibleKey, MASKED } from "./causal_mask.ts";
export { mergeHeads, splitHeads } from "./heads.ts";
export { columnSum, columnSumLater, linear, matMulLater } from "./matmul.ts";
export { embed } from "./embed.ts";
export { softmaxXent, softmaxXentGrad } from "./xent.ts";
export {
  CAUSAL_BLOCK,
  CAUSAL_KERNELS,
  causalKernelsActive,
  causalLowerMatMul,
  causalLowerMatMulT,
  causalQkvGrad,
  causalScores,
} from "./causal_matmul.ts";
