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
