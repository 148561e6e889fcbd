/**
 * Vision layers: patch embedding (reshape + matMul, no conv: wasm lacks the conv2d filter gradient) and the mean-pool
 * classification head.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Context } from "./context.ts";
import { checkInput, type Layer, type ParamSpec, prefixed, type SavedSpec } from "./layer.ts";
import { Linear } from "./linear.ts";
import { LayerNorm } from "./layernorm.ts";

/** Splits `images [B, H, W, C]` into non-overlapping `p×p` patches `[B, N, p·p·C]` (row-major patch order). */
export function patchify(images: tf.Tensor4D, patch: number): tf.Tensor3D {
  const [b, h, w, c] = images.shape;
  if (h % patch !== 0 || w % patch !== 0) {
    throw new RangeError(`Cannot patchify: image size ${h}x${w} is not divisible by patch size ${patch}`);
  }
  return tf.tidy(() =>
    images
      .reshape([b, h / patch, patch, w / patch, patch, c])
      .transpose([0, 1, 3, 2, 4, 5]) // [B, H/p, W/p, p, p, C]
      .reshape([b, (h / patch) * (w / patch), patch * patch * c]) as tf.Tensor3D
  );
}

/** `images [B, H, W, C] -> proj(patchify(images)) + pos  [B, N, D]`. Images need no gradient. */
export class PatchEmbedding implements Layer {
  /** Patch projection `[p·p·C, D]`. */
  readonly proj: Linear;
  /** Number of patches. */
  readonly numPatches: number;

  /** Creates a patch embedding for `imageSize²×channels` images. */
  constructor(
    readonly name: string,
    readonly imageSize: number,
    readonly channels: number,
    readonly patch: number,
    readonly dim: number,
  ) {
    if (imageSize % patch !== 0) {
      throw new RangeError(`Cannot create PatchEmbedding: image size ${imageSize} is not divisible by patch ${patch}`);
    }
    this.numPatches = (imageSize / patch) ** 2;
    this.proj = new Linear("proj", patch * patch * channels, dim);
  }

  /** `proj.*` and `pos [N, D]`. */
  paramSpecs(): ParamSpec[] {
    return [
      ...prefixed("proj", this.proj.paramSpecs()),
      { name: "pos", shape: [this.numPatches, this.dim], init: { kind: "normal", std: 0.02 } },
    ];
  }

  /** The projection's input. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return prefixed("proj", this.proj.savedSpecs([inputShape[0], this.numPatches, this.patch ** 2 * this.channels]));
  }

  /** `[B, H, W, C] -> [B, N, D]`. */
  outputShape(inputShape: readonly number[]): number[] {
    return [inputShape[0], this.numPatches, this.dim];
  }

  /** Patchify, project, add positions. */
  forward(images: tf.Tensor, ctx: Context): tf.Tensor {
    const where = `PatchEmbedding "${ctx.at("")}"`;
    checkInput(where, images, { rank: 4, lastDim: this.channels });
    if (images.shape[1] !== this.imageSize || images.shape[2] !== this.imageSize) {
      throw new TypeError(
        `${where}: expected ${this.imageSize}x${this.imageSize} images: current shape is [${images.shape}]`,
      );
    }
    return tf.tidy(() =>
      tf.add(this.proj.forward(patchify(images as tf.Tensor4D, this.patch), ctx.child("proj")), ctx.param("pos"))
    );
  }

  /** Accumulates `pos` and `proj` gradients; images have no gradient. */
  backward(dy: tf.Tensor, ctx: Context): null {
    tf.tidy(() => {
      if (ctx.trainable("pos")) ctx.accumulate("pos", tf.sum(dy, 0));
      this.proj.backward(dy, ctx.child("proj"));
    });
    return null;
  }
}

/** `x [B, N, D] -> head(mean_N(ln(x)))  [B, classes]`. */
export class PoolHead implements Layer {
  /** Final LayerNorm. */
  readonly ln: LayerNorm;
  /** Classifier. */
  readonly head: Linear;

  /** Creates a head mapping `tokens` tokens of `dim` features to `classes` logits. */
  constructor(readonly name: string, readonly tokens: number, readonly dim: number, readonly classes: number) {
    this.ln = new LayerNorm("ln_f", dim);
    this.head = new Linear("out", dim, classes);
  }

  /** `ln_f.*` and `out.*`. */
  paramSpecs(): ParamSpec[] {
    return [...prefixed("ln_f", this.ln.paramSpecs()), ...prefixed("out", this.head.paramSpecs())];
  }

  /** LayerNorm input and stats, classifier input. */
  savedSpecs(inputShape: readonly number[]): SavedSpec[] {
    return [
      ...prefixed("ln_f", this.ln.savedSpecs(inputShape)),
      ...prefixed("out", this.head.savedSpecs([inputShape[0], this.dim])),
    ];
  }

  /** `[B, N, D] -> [B, classes]`. */
  outputShape(inputShape: readonly number[]): number[] {
    return [inputShape[0], this.classes];
  }

  /** LayerNorm, mean over tokens, linear. */
  forward(x: tf.Tensor, ctx: Context): tf.Tensor {
    checkInput(`PoolHead "${ctx.at("")}"`, x, { rank: 3, lastDim: this.dim });
    if (x.shape[1] !== this.tokens) {
      throw new TypeError(`PoolHead "${ctx.at("")}": expected ${this.tokens} tokens: current shape is [${x.shape}]`);
    }
    return tf.tidy(() => this.head.forward(tf.mean(this.ln.forward(x, ctx.child("ln_f")), 1), ctx.child("out")));
  }

  /** The mean spreads `dpooled / N` over the tokens. */
  backward(dy: tf.Tensor, ctx: Context): tf.Tensor {
    return tf.tidy(() => {
      const dpooled = this.head.backward(dy, ctx.child("out")); // [B, D]
      const n = this.tokens;
      const dx = tf.tile(tf.div(dpooled, n).expandDims(1), [1, n, 1]); // [B, N, D]
      return this.ln.backward(dx, ctx.child("ln_f"));
    });
  }
}
