/**
 * The checkpoint reader's one error type.
 * @module
 */

/**
 * A checkpoint file that cannot be used: truncated, corrupt (checksum), malformed (header, offsets, dtypes, shapes)
 * or not matching the model or trainer it is loaded into. The message is one line naming the file and what is wrong;
 * `file` and `reason` hold the two parts.
 *
 * @example Usage
 * ```ts
 * import { CheckpointError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new CheckpointError("run/step-10.safetensors", "the checksum does not match");
 * assert.equal(e.message, "Cannot read checkpoint run/step-10.safetensors: the checksum does not match");
 * assert.ok(e instanceof Error && e.name === "CheckpointError");
 * ```
 */
export class CheckpointError extends Error {
  /** Creates the error for `file` (a path, or a label such as `"<bytes>"`) and the `reason`. */
  constructor(readonly file: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot read checkpoint ${file}: ${reason}`, options);
    this.name = "CheckpointError";
  }
}
