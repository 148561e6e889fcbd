/**
 * Explicit-backward layers and the saved-activation seam (ActivationPolicy).
 * @module
 */
export { disposeTree, type Grads, type Params, treeBytes, treeSize, type Updates } from "./params.ts";
export {
  type ActivationPolicy,
  byRole,
  discardAll,
  discardPolicy,
  dtypeBytes,
  except,
  keepAll,
  keepPolicy,
  type PolicySelector,
  type SavedInfo,
  type SavedRole,
} from "./policy.ts";
export { Context, type ContextOptions, type SavedEntry, type SavedReportRow, SavedStore } from "./context.ts";
export { chainSavedSpecs, checkInput, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";
export { Linear, type LinearOptions } from "./linear.ts";
export { LayerNorm } from "./layernorm.ts";
export { Gelu } from "./gelu.ts";
export { Embedding } from "./embedding.ts";
export { SelfAttention, type SelfAttentionOptions } from "./attention.ts";
export { Sequence } from "./sequence.ts";
export { type BlockOptions, TransformerBlock } from "./block.ts";
export { SoftmaxCrossEntropy } from "./cross_entropy.ts";
export { PatchEmbedding, patchify, PoolHead } from "./patch.ts";
export { customGradLayer } from "./custom_grad.ts";
