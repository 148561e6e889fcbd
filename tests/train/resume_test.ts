import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { checkpoint } from "../../lib/checkpoint/mod.ts";
import { galore } from "../../lib/galore/mod.ts";
import { withLora } from "../../lib/lora/mod.ts";
import { mesa } from "../../lib/mesa/mod.ts";
import { mezo } from "../../lib/mezo/mod.ts";
import { createGpt } from "../../lib/models/mod.ts";
import { adamw } from "../../lib/optim/mod.ts";
import { streamBp } from "../../lib/streambp/mod.ts";
import { backprop, Trainer } from "../../lib/train/mod.ts";
import { wtacrs } from "../../lib/wtacrs/mod.ts";
import { testOnBackends } from "../_util/backends.ts";
import { assertResumesBitwise, CFG } from "./_resume.ts";

const opt = () => adamw({ lr: 1e-2 });

testOnBackends("resume: plain backprop after 3 of 6 steps equals the uninterrupted run bit for bit", () => {
  assertResumesBitwise((seed) => ({ model: createGpt(CFG, { seed }), options: { optimizer: opt() } }));
});

Deno.test("resume: update in backward, bit for bit", () => {
  assertResumesBitwise((seed) => ({
    model: createGpt(CFG, { seed }),
    options: { optimizer: opt(), update: "in-backward" },
  }));
});

Deno.test("resume: checkpointing + Mesa (running ranges restored), bit for bit", () => {
  assertResumesBitwise((seed) => {
    const m = mesa({ grouping: "head-wise", seed: 3 });
    return {
      model: createGpt(CFG, { seed }),
      options: {
        optimizer: opt(),
        source: backprop({ selector: m.selector, trunk: checkpoint("sqrt") }),
        stateful: { mesa: m.state },
      },
      dispose: () => m.dispose(),
    };
  });
});

Deno.test("resume: WTA-CRS (gradient-norm cache restored), bit for bit", () => {
  assertResumesBitwise((seed) => {
    const w = wtacrs({ ratio: 0.3, seed: 3 });
    return {
      model: createGpt(CFG, { seed }),
      options: { optimizer: opt(), source: backprop({ selector: w.selector }), stateful: { wtacrs: w.cache } },
      dispose: () => w.dispose(),
    };
  });
});

Deno.test("resume: GaLore across a projector refresh (gap 2, saved at 3), bit for bit", () => {
  assertResumesBitwise((seed) => ({
    model: createGpt(CFG, { seed }),
    options: { optimizer: galore({ lr: 1e-2, rank: 2, updateProjGap: 2, warn: () => {} }) },
  }));
});

Deno.test("resume: MeZO, bit for bit", () => {
  assertResumesBitwise((seed) => ({ model: createGpt(CFG, { seed }), options: { step: mezo({ lr: 1e-3 }) } }));
});

Deno.test("resume: LoRA (frozen base, adapters trained), bit for bit", () => {
  assertResumesBitwise((seed) => ({
    model: withLora(createGpt(CFG, { seed: 0 }), { targets: ["attn.qkv"], rank: 2, seed }), // the same base, as a resumed fine-tune loads it
    options: { optimizer: opt() },
  }));
});

Deno.test("resume: StreamBP, bit for bit", () => {
  assertResumesBitwise((seed) => ({
    model: createGpt(CFG, { seed }),
    options: { optimizer: opt(), source: streamBp({ chunk: 8 }) },
  }));
});

Deno.test("restore keeps a frozen parameter shared with the base model when the file holds the same bits", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const base = createGpt(CFG, { seed: 0 });
    const lora = withLora(base, { targets: ["attn.qkv"], rank: 2, seed: 0 });
    const t = new Trainer(lora, { optimizer: opt() });
    t.save(`${dir}/ck.safetensors`);
    t.restore(`${dir}/ck.safetensors`);
    assert.equal(lora.params["embed.wte"], base.params["embed.wte"], "the shared base tensor is kept");
    assert.ok(!base.params["embed.wte"].isDisposed);
    t.dispose();
    tf.dispose(Object.values(lora.params));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
