/**
 * Internal: the libc binding for this process, and the one place that turns
 * `-errno` into a {@linkcode SystemError}.
 *
 * @module
 */

import { SystemError } from "./errors.ts";
import { libc } from "./ffi/mod.ts";
import type { Libc } from "./ffi/types.ts";
import { ERRNO_DESCRIPTIONS, errnoNames } from "./platform/errno.ts";

export { libc };
export type { Libc };

let names: ReadonlyMap<number, string> | undefined;

/** The errno name of `errno` on this platform, or `"UNKNOWN"`. */
export function errnoName(errno: number): string {
  names ??= errnoNames(libc().platform.errno);
  return names.get(errno) ?? "UNKNOWN";
}

/**
 * Builds the error for a call that returned `-errno`, with a message such as
 * "Cannot send: sendmsg() failed with EPIPE (broken pipe)".
 */
export function systemError(
  errno: number,
  syscall: string,
  action: string,
): SystemError {
  const code = errnoName(errno);
  const text = code in ERRNO_DESCRIPTIONS
    ? ERRNO_DESCRIPTIONS[code as keyof typeof ERRNO_DESCRIPTIONS]
    : `errno ${errno}`;
  return new SystemError(
    `${action}: ${syscall}() failed with ${code} (${text})`,
    { code, errno, syscall },
  );
}
