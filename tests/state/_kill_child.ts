/**
 * Fixture of `kill_test.ts`: the run of {@linkcode killRun} with a checkpoint every step (each 16 MiB, so a SIGKILL
 * usually lands inside a write), printing each finished step. Args: the checkpoint folder, `resume` or not.
 * @module
 */
import { killRun } from "./_kill_run.ts";

const [dir, resume] = Deno.args;
killRun({ dir, every: 1, resume: resume === "resume" }, (step) => console.log(`step ${step}`));
