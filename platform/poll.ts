/**
 * `struct pollfd` and the poll bits. POSIX fixes the struct's fields and
 * Linux (`include/uapi/asm-generic/poll.h`), xnu (`bsd/sys/poll.h`) and
 * FreeBSD (`sys/sys/poll.h`) agree on the bytes and the numbers, so the poll
 * reactor tested on Linux is the code that runs on macOS and FreeBSD.
 *
 * @example Encode one entry
 * ```ts
 * import { POLLFD } from "./poll.ts";
 *
 * const entry = new DataView(new ArrayBuffer(POLLFD.size));
 * entry.setInt32(POLLFD.fd, 0, true);
 * entry.setInt16(POLLFD.events, POLLFD.POLLIN, true);
 * console.log(POLLFD.size); // 8
 * ```
 *
 * @module
 */

import type { PollfdLayout } from "./types.ts";

/** `struct pollfd { int fd; short events; short revents; }` on every target. */
export const POLLFD: PollfdLayout = {
  size: 8,
  fd: 0,
  events: 4,
  revents: 6,
  POLLIN: 0x1,
  POLLOUT: 0x4,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLNVAL: 0x20,
};
