/**
 * Internal: the one check that an option really is an `AbortSignal`.
 *
 * @module
 */

const abortedGetter = Object.getOwnPropertyDescriptor(
  AbortSignal.prototype,
  "aborted",
)?.get;

/**
 * @internal `signal` after checking it really is an `AbortSignal` (its own
 * `aborted` getter accepts it), so that a controller or a look-alike passed
 * by mistake fails here, before anything happens, and never half way.
 */
export function checkSignal(
  signal: unknown,
  action: string,
): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  let real = signal instanceof AbortSignal;
  if (real && abortedGetter !== undefined) {
    try {
      abortedGetter.call(signal);
    } catch {
      real = false;
    }
  }
  if (!real) {
    throw new TypeError(
      `${action}: signal must be an AbortSignal (pass controller.signal, not the controller)`,
    );
  }
  return signal as AbortSignal;
}
