/**
 * Errors of the experiment command line. A {@linkcode UsageError} means the command was wrong (exit code 2); any
 * other error thrown while running is a failure of the run (exit code 1).
 * @module
 */

/** The command line was invalid: `experiments/run.ts` prints `error: <message>` and exits with code 2. */
export class UsageError extends Error {
  /** Creates a usage error with a message in the form printed after `error: `. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The experiment name is not in the registry. */
export class UnknownExperimentError extends UsageError {
  /** Creates the error for `name`; the message lists a suggestion (if any) and the available names. */
  constructor(readonly experiment: string, available: string[], suggestion = "") {
    super(
      `unknown experiment "${experiment}".${suggestion} Available: ${
        available.length ? available.join(", ") : "(none)"
      }`,
    );
    this.name = "UnknownExperimentError";
  }
}

/** A `--key=value` override names a key that the experiment's config schema does not have. */
export class UnknownConfigKeyError extends UsageError {
  /** Creates the error for `key` of `experiment`; `hint` is a did-you-mean or the list of valid keys. */
  constructor(readonly key: string, readonly experiment: string, hint: string) {
    super(`unknown config key "${key}" for experiment "${experiment}".${hint}`);
    this.name = "UnknownConfigKeyError";
  }
}

/** A config value has the wrong type or is out of range. */
export class ConfigValueError extends UsageError {
  /** Creates the error; `detail` says what was expected and what was given. */
  constructor(readonly key: string, detail: string) {
    super(`bad value for "${key}": ${detail}`);
    this.name = "ConfigValueError";
  }
}
