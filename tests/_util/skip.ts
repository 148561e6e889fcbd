/**
 * Honest skips: a test that cannot run its subject here is registered as ignored, with the reason in its name, so it
 * shows in the summary's ignored count ("| N ignored") and never as passed.
 * @module
 */

/** A test name that carries the reason it is ignored: `"<name> (ignored: <reason>)"`. */
export function ignoredName(name: string, reason: string): string {
  return `${name} (ignored: ${reason})`;
}

/**
 * `{ name, ignore }` for a `Deno.test` definition that needs a condition: when `reason` is defined the test is
 * ignored and its name says why.
 *
 * @example Usage
 * ```ts ignore
 * Deno.test({ ...unlessSkipped("loads the dataset", installed ? undefined : "dataset not installed"), fn });
 * ```
 */
export function unlessSkipped(name: string, reason: string | undefined): { name: string; ignore: boolean } {
  return reason === undefined ? { name, ignore: false } : { name: ignoredName(name, reason), ignore: true };
}
