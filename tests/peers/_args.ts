/**
 * Argument decoding for peer programs. `run()` in tests/_helpers.ts passes a
 * Linux abstract socket name "\0name" as "@name", since argv cannot hold NUL.
 * Imports nothing, so a Deno peer needs no permission for it.
 *
 * @module
 */

/** The socket path an argument names ("@name" → "\0name"). */
export function socketPath(arg: string | undefined): string {
  if (arg === undefined) throw new TypeError("missing socket path argument");
  return arg.startsWith("@") ? `\0${arg.slice(1)}` : arg;
}
