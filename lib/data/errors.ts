/**
 * Errors raised by the data loaders.
 * @module
 */

/** Options for {@linkcode DatasetNotFoundError}. */
export interface DatasetNotFoundErrorOptions {
  /** How to install the missing data, e.g. `"sudo apt-get install dataset-fashion-mnist"`. */
  install: string;
  /** The underlying error (e.g. `Deno.errors.NotFound`). @default {undefined} */
  cause?: unknown;
  /**
   * What to do instead of installing, when the path came from the user (an option or an environment variable), e.g.
   * `"MEMTRAIN_FASHION_MNIST_DIR=/x points there: ..."`; it replaces "install it with: ..." in the message.
   * @default {undefined}
   */
  hint?: string;
}

/**
 * Thrown when a dataset's files or package are not available. The message names what was missing and how to install
 * it; `missing` and `install` hold the same two facts for programs.
 *
 * @example Usage
 * ```ts
 * import { DatasetNotFoundError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new DatasetNotFoundError("Fashion-MNIST", "/usr/share/datasets/fashion-mnist", {
 *   install: "sudo apt-get install dataset-fashion-mnist",
 * });
 * assert.equal(err.name, "DatasetNotFoundError");
 * assert.match(err.message, /apt-get install dataset-fashion-mnist/);
 * ```
 */
export class DatasetNotFoundError extends Error {
  /** The dataset's display name, e.g. `"Fashion-MNIST"`. */
  readonly dataset: string;
  /** The path or package that was not found. */
  readonly missing: string;
  /** The install instruction. */
  readonly install: string;

  /**
   * Creates the error.
   *
   * @param dataset The dataset's display name.
   * @param missing The path or package that was not found.
   * @param options The install instruction and optional cause.
   */
  constructor(dataset: string, missing: string, options: DatasetNotFoundErrorOptions) {
    super(
      `Cannot load ${dataset}: ${missing} was not found; ${options.hint ?? `install it with: ${options.install}`}`,
      {
        cause: options.cause,
      },
    );
    this.name = "DatasetNotFoundError";
    this.dataset = dataset;
    this.missing = missing;
    this.install = options.install;
  }
}

/**
 * Thrown when a dataset file is there but its bytes are wrong: a truncated or corrupt gzip stream, a bad IDX header,
 * a data length that does not match the header's shape, or contents that disagree (labels out of range, counts that
 * differ). It is a `TypeError` (the data has the wrong form); `path` names the file and `reason` says what is wrong.
 *
 * @example Usage
 * ```ts
 * import { CorruptDatasetError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new CorruptDatasetError("/data/t10k-labels-idx1-ubyte.gz", "the gzip stream is truncated");
 * assert.ok(err instanceof TypeError);
 * assert.equal(err.message, "Cannot read /data/t10k-labels-idx1-ubyte.gz: the gzip stream is truncated");
 * ```
 */
export class CorruptDatasetError extends TypeError {
  /** The file that is corrupt. */
  readonly path: string;
  /** What is wrong with it, e.g. "shape [10] needs 10 data bytes: current value is 7". */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param path The corrupt file.
   * @param reason What is wrong with it (one line).
   * @param options The underlying error, if any.
   */
  constructor(path: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot read ${path}: ${reason}`, { cause: options.cause });
    this.name = "CorruptDatasetError";
    this.path = path;
    this.reason = reason;
  }
}
