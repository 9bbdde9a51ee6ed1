/**
 * The error raised when no C library can be bound.
 *
 * @module
 */

/**
 * Thrown on first use when fdpass cannot reach libc: the runtime is neither
 * Bun nor Deno, Deno runs without `--allow-ffi`, or no C library loads.
 *
 * @example Tell the user which flag is missing
 * ```ts
 * import { FfiUnavailableError, socketPair } from "../mod.ts";
 *
 * try {
 *   const [a, b] = socketPair();
 *   a.close();
 *   b.close();
 * } catch (error) {
 *   if (error instanceof FfiUnavailableError) console.error(error.message);
 *   else throw error;
 * }
 * ```
 */
export class FfiUnavailableError extends Error {
  /** Always `"ERR_FFI_UNAVAILABLE"`. */
  readonly code: "ERR_FFI_UNAVAILABLE" = "ERR_FFI_UNAVAILABLE";

  /** Creates the error; `cause` is the runtime's own error, if any. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FfiUnavailableError";
  }
}
