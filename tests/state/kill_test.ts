import assert from "node:assert/strict";
import { readStateFile } from "../../lib/state/mod.ts";
import { listCheckpoints } from "../../lib/train/mod.ts";
import { killRun } from "./_kill_run.ts";

const CHILD = new URL("./_kill_child.ts", import.meta.url).pathname;

/** Starts the child, kills it `delayMs` after it reports step `after` (whose checkpoint it then writes), or as soon as a temp file shows a write in progress; returns the folder's names. */
async function killAfter(dir: string, after: number, delayMs: number | "in-write"): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, dir, "fresh"],
    stdout: "piped",
    stderr: "null",
    env: { MEMTRAIN_BLAS_THREADS: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes(`step ${after}\n`)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the child ended before step ${after}: ${text}`);
    text += value;
  }
  if (delayMs === "in-write") {
    // Poll for the temp file of the next write and kill as soon as it exists: before its rename.
    const deadline = Date.now() + 20_000;
    while (![...Deno.readDirSync(dir)].some((e) => e.name.includes(".tmp-")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
  } else await new Promise((r) => setTimeout(r, delayMs));
  child.kill("SIGKILL");
  const status = await child.status;
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  assert.equal(status.signal, "SIGKILL", "the child was killed, not finished");
  return [...Deno.readDirSync(dir)].map((e) => e.name);
}

Deno.test("SIGKILL during checkpoint writes leaves the previous checkpoint loadable and the run resumable bit for bit", async () => {
  const straight = killRun(undefined);
  let midWrite = 0;
  for (const delay of ["in-write", 40] as const) {
    const dir = Deno.makeTempDirSync();
    try {
      const names = await killAfter(dir, 3, delay);
      if (names.some((n) => n.includes(".tmp-"))) midWrite++;
      const steps = listCheckpoints(dir);
      assert.ok(steps.length >= 1 && steps.at(-1)! >= 2, `checkpoints ${steps} (files ${names})`);
      for (const s of steps) readStateFile(`${dir}/step-${String(s).padStart(8, "0")}.safetensors`); // each loads
      const resumed = killRun({ dir, every: 1, resume: true });
      assert.deepStrictEqual(resumed.r.losses, straight.r.losses);
      assert.deepStrictEqual(resumed.params, straight.params);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
  assert.ok(midWrite >= 1, "at least one kill landed inside a write (a temp file was left behind)");
});
