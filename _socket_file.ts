/**
 * The file a listener's `bind` creates: what is at a path (its device and
 * inode, whether it is a socket), whether a socket file is stale (nobody
 * listens on it), and removing it only while it is still the same file.
 *
 * @module
 */

import type { Libc } from "./ffi/mod.ts";
import type { SocketKind } from "./unix_socket.ts";

/** What is at a path, as `fstatat` (not following a final link) saw it. */
export interface FileAtPath {
  /** `"device:inode"`: the same string means the same file. */
  readonly identity: string;
  readonly socket: boolean;
}

/** `path` as NUL-terminated bytes for libc. */
export function cPath(path: string): Uint8Array {
  return new TextEncoder().encode(`${path}\0`);
}

/**
 * The file at `path`; `null` when nothing can be seen there (missing,
 * unreadable directory), `undefined` where fdpass has no `fstatat` (macOS,
 * FreeBSD).
 */
export function fileAt(
  lib: Libc,
  path: Uint8Array,
): FileAtPath | null | undefined {
  if (lib.platform.fileStat === null) return undefined;
  const layout = lib.platform.stat;
  const stat = new Uint8Array(layout.size);
  if (lib.fstatat(path, stat) < 0) return null;
  // Linux's st_dev and st_ino are 64-bit, read whole (no Number rounding).
  const view = new DataView(stat.buffer);
  const device = view.getBigUint64(layout.dev.offset, true);
  const inode = view.getBigUint64(layout.ino.offset, true);
  const mode = view.getUint32(layout.mode.offset, true);
  const c = lib.platform.constants;
  return {
    identity: `${device}:${inode}`,
    socket: (mode & c.S_IFMT) === c.S_IFSOCK,
  };
}

/**
 * Whether the socket file at `path` is stale: a socket, and a connect of
 * `kind` to `address` is refused (nobody listens). A live listener (connect
 * succeeds, or its queue is full: `EAGAIN`) or anything else is not stale.
 * Returns the file's identity when stale, for {@linkcode unlinkIfSame}.
 */
export function staleSocketFile(
  lib: Libc,
  path: Uint8Array,
  address: { bytes: Uint8Array; length: number },
  kind: SocketKind,
): string | undefined {
  const before = fileAt(lib, path);
  if (before === null || before === undefined || !before.socket) {
    return undefined;
  }
  const c = lib.platform.constants;
  const type = kind === "seqpacket" ? c.SOCK_SEQPACKET : c.SOCK_STREAM;
  const probe = lib.socket(
    c.AF_UNIX,
    type | c.SOCK_NONBLOCK | c.SOCK_CLOEXEC,
    0,
  );
  if (probe < 0) return undefined;
  let r: number;
  do {
    r = lib.connect(probe, address.bytes, address.length);
  } while (r < 0 && -r === lib.platform.errno.EINTR);
  lib.close(probe);
  return -r === lib.platform.errno.ECONNREFUSED ? before.identity : undefined;
}

/**
 * Unlinks `path` if it is still the file `identity` names (`undefined`:
 * unconditionally, where fdpass cannot tell). Another process may replace
 * the file between the check and the unlink; nothing in POSIX closes that
 * gap. Returns whether it unlinked.
 */
export function unlinkIfSame(
  lib: Libc,
  path: Uint8Array,
  identity: string | undefined,
): boolean {
  if (identity !== undefined && fileAt(lib, path)?.identity !== identity) {
    return false;
  }
  return lib.unlink(path) === 0;
}
