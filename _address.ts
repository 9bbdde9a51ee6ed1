/**
 * Internal: what stream sockets of any family share: reading their local or
 * remote address, and checking what kind of socket an adopted number is.
 *
 * @module
 */

import { type Libc, libc, systemError } from "./_system.ts";
import { intOption } from "./unix_socket.ts";
import { OwnedFd } from "./owned_fd.ts";
import {
  decodeSocketAddress,
  INET_LAYOUTS,
  sockaddrFamily,
  type SocketAddress,
} from "./platform/inet.ts";

/** `getsockname` or `getpeername` of `fd`, decoded. */
export function readSocketAddress(
  lib: Libc,
  fd: number,
  call: "getsockname" | "getpeername",
  action: string,
): SocketAddress {
  const bytes = new Uint8Array(
    INET_LAYOUTS[lib.platform.os].sockaddrStorageSize,
  );
  const length = new Uint32Array([bytes.length]);
  const r = lib[call](fd, bytes, length);
  if (r < 0) throw systemError(-r, call, action);
  const address = decodeSocketAddress(bytes, length[0]!, lib.platform);
  if (address === null) {
    throw new TypeError(
      `${action}: address family ${
        sockaddrFamily(bytes, length[0]!, lib.platform)
      } is not Unix, IPv4 or IPv6`,
    );
  }
  return address;
}

// OwnedFd's own accessors: a subclass overriding `fd` or `release` must not
// make the number checked differ from the number taken.
const ownedNumber = Object.getOwnPropertyDescriptor(OwnedFd.prototype, "fd")!
  .get!;
const ownedRelease = OwnedFd.prototype.release;

/**
 * The descriptor number of a `number` or an open {@linkcode OwnedFd}, checked
 * to be one the FFI can carry.
 */
export function checkedFdNumber(fd: unknown, action: string): number {
  const number = fd instanceof OwnedFd ? ownedNumber.call(fd) : fd;
  if (
    typeof number !== "number" || !Number.isInteger(number) || number < 0 ||
    number > 0x7fff_ffff
  ) {
    throw new TypeError(
      `${action}: expected a non-negative integer descriptor, got ${
        String(number)
      }`,
    );
  }
  return number;
}

/**
 * Checks that `fd` is a `SOCK_STREAM` socket of a family fdpass decodes,
 * listening or not as `listening` says. Throws without touching `fd`.
 */
export function checkStreamSocket(
  fd: number,
  listening: boolean,
  action: string,
): void {
  const lib = libc();
  const c = lib.platform.constants;
  const type = intOption(lib, fd, c.SOL_SOCKET, c.SO_TYPE);
  if (type < 0) throw systemError(-type, "getsockopt", action);
  if (type !== c.SOCK_STREAM) {
    throw new TypeError(
      `${action}: fd ${fd} is not a stream socket (SO_TYPE ${type})`,
    );
  }
  const accepting = intOption(
    lib,
    fd,
    c.SOL_SOCKET,
    INET_LAYOUTS[lib.platform.os].SO_ACCEPTCONN,
  );
  if (accepting < 0) throw systemError(-accepting, "getsockopt", action);
  if ((accepting !== 0) !== listening) {
    throw new TypeError(
      listening
        ? `${action}: fd ${fd} is a stream socket that is not listening (use Connection.fromFd)`
        : `${action}: fd ${fd} is a listening socket (use StreamListener.fromFd)`,
    );
  }
  // Decoding the address checks the family (Unix, IPv4, IPv6).
  readSocketAddress(lib, fd, "getsockname", action);
}

/**
 * Takes `number` (checked by {@linkcode checkedFdNumber}) out of `fd`: an
 * {@linkcode OwnedFd} gives it up (and reads as closed).
 */
export function takeChecked(fd: unknown, number: number): number {
  if (fd instanceof OwnedFd) ownedRelease.call(fd);
  return number;
}
