/**
 * Explicit-backward layers, the model record, and the seam types every technique implements: saved-activation
 * policies (seam A), trunk transforms, gradient sources and whole training steps (seam B), parameter providers and
 * the `{ step, seed }` key of every pass.
 * @module
 */
export { disposeTree, type Grads, type Params, treeBytes, treeSize, type Updates } from "./params.ts";
export { isParamProvider, mapParams, type ParamProvider, paramsProvider } from "./provider.ts";
export {
  type ActivationPolicy,
  type BatchRows,
  byRole,
  DEFAULT_FORWARD_KEY,
  discardAll,
  discardPolicy,
  dtypeBytes,
  except,
  type ForwardKey,
  keepAll,
  keepPolicy,
  type PolicySelector,
  type SavedInfo,
  savedRng,
  type SavedRole,
} from "./policy.ts";
export { Context, type ContextOptions, type SavedEntry, type SavedReportRow, SavedStore } from "./context.ts";
export {
  chainSavedSpecs,
  checkInput,
  type Layer,
  type ParamSpec,
  prefixed,
  type SavedSpec,
  type TrunkTransform,
} from "./layer.ts";
export { type Batch, type Model, trainableParams, trunkSavedSpecs } from "./model.ts";
export type { GradSource, LossAndGrads, PassOptions, StepOutcome, TrainStep } from "./grad_source.ts";
export type { StateArray, Stateful, StateTree } from "./stateful.ts";
export { forwardLoss, inferLogits } from "./forward.ts";
export { type PredictedSaved, predictSaved, predictSavedBytes, specSaved } from "./analytic.ts";
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
