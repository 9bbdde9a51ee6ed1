/**
 * Kernel ABI profiles for fdpass: layouts, constants, `CMSG_*`, encoders and
 * the control-message parser. Pure TypeScript; imports no runtime.
 *
 * @example Compute control-buffer sizes for any target
 * ```ts
 * import { cmsgSpace, DARWIN_AARCH64, LINUX_X86_64 } from "./mod.ts";
 *
 * console.log(cmsgSpace(LINUX_X86_64.cmsghdr, 4)); // 24
 * console.log(cmsgSpace(DARWIN_AARCH64.cmsghdr, 4)); // 16
 * ```
 *
 * @module
 */

import {
  DARWIN_AARCH64,
  DARWIN_X86_64,
  FREEBSD_AARCH64,
  FREEBSD_X86_64,
} from "./bsd.ts";
import { LINUX_AARCH64, LINUX_X86_64 } from "./linux.ts";
import type { PlatformLayout } from "./types.ts";

export * from "./types.ts";
export * from "./cmsg.ts";
export * from "./msghdr.ts";
export * from "./sockaddr.ts";
export * from "./inet.ts";
export * from "./poll.ts";
export * from "./errno.ts";
export * from "./stat.ts";
export * from "./linux.ts";
export * from "./bsd.ts";

/** Every profile fdpass knows, by name (`"linux-x86_64"`, ...). */
export const PLATFORMS: readonly PlatformLayout[] = [
  LINUX_X86_64,
  LINUX_AARCH64,
  DARWIN_AARCH64,
  DARWIN_X86_64,
  FREEBSD_X86_64,
  FREEBSD_AARCH64,
];

/**
 * The profile for an OS and CPU as runtimes name them (`"linux"`, `"darwin"`,
 * `"freebsd"`; `"x86_64"`/`"x64"`, `"aarch64"`/`"arm64"`), or `null` when
 * fdpass has none.
 */
export function platformFor(os: string, arch: string): PlatformLayout | null {
  const cpu = arch === "x64" || arch === "amd64"
    ? "x86_64"
    : arch === "arm64"
    ? "aarch64"
    : arch;
  return PLATFORMS.find((p) => p.os === os && p.arch === cpu) ?? null;
}
