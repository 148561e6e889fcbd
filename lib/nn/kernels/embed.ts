/**
 * Token plus position embedding as a fused op, `MemtrainEmbed` `{wte [V, D], wpe [P, D], ids [N] int32}`, attrs `{t}`
 * -> `[N, D]`: `wte[ids[i]] + wpe[i mod t]`, with its stock tfjs ops.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedOp } from "../../backend/registry.ts";
import { checkDtype, f32, i32, type KernelArgs, sizeOf, wasmOf } from "../../backend/heap.ts";

/** Kernel names (backend "wasm"). */
export const EMBED_KERNELS = { embed: "MemtrainEmbed" } as const;

function embedKernel(args: KernelArgs): tf.TensorInfo {
  const K = EMBED_KERNELS.embed;
  const be = wasmOf(args);
  const { wte, wpe, ids } = args.inputs as Record<string, tf.TensorInfo>;
  const { t } = args.attrs as unknown as { t: number };
  checkDtype(K, { wte, wpe });
  const [vocab, d] = wte.shape;
  const n = sizeOf(ids.shape);
  if (ids.dtype !== "int32" || wpe.shape[1] !== d || t > wpe.shape[0] || (t > 0 && n % t !== 0)) {
    throw new TypeError(
      `${K}: bad inputs wte [${wte.shape}], wpe [${wpe.shape}], ids [${ids.shape}] ${ids.dtype}, t ${t}`,
    );
  }
  const bad = i32(be, ids).findIndex((id) => !(id >= 0 && id < vocab));
  if (bad >= 0) {
    const id = i32(be, ids)[bad];
    throw new RangeError(`${K}: token id ${id} at position ${bad} is not in [0, ${vocab - 1}]`);
  }
  const out = be.makeOutput([n, d], "float32");
  const tv = f32(be, wte), pv = f32(be, wpe), iv = i32(be, ids), ov = f32(be, out);
  for (let i = 0; i < n; i++) {
    const src = iv[i] * d, pos = (i % t) * d, dst = i * d;
    for (let j = 0; j < d; j++) ov[dst + j] = tv[src + j] + pv[pos + j];
  }
  return out;
}

/** `wte[ids] + wpe[0:t]` broadcast over the batch: `ids [B·T]` (int32) -> `[B·T, D]`. */
export const embed = fusedOp({
  name: EMBED_KERNELS.embed,
  group: "nn",
  kernel: () => embedKernel,
  fused: (run, wte: tf.Tensor, wpe: tf.Tensor, ids: tf.Tensor, t: number) => run<tf.Tensor>({ wte, wpe, ids }, { t }),
  stock: (wte: tf.Tensor, wpe: tf.Tensor, ids: tf.Tensor, t: number) => {
    const d = wte.shape[1] as number;
    return tf.tidy(() => {
      const tok = tf.gather(wte, ids).reshape([-1, t, d]); // [B, T, D]
      const pos = wpe.slice([0, 0], [t, d]); // [T, D]
      return tf.add(tok, pos).reshape([-1, d]);
    });
  },
});
