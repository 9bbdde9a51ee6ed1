/**
 * Internet socket addresses: the layouts of `struct sockaddr_in` and
 * `struct sockaddr_in6` per operating system, the constants that go with
 * them, IP address text in both directions, and one decoder for whatever
 * `getsockname`/`getpeername` return (Unix, IPv4 or IPv6). Pure data and
 * functions; the BSDs put a length byte (`sin_len`) before a one-byte
 * family, Linux has a two-byte family and no length.
 *
 * @module
 */

import { decodeSockaddrUn, type EncodedSockaddr } from "./sockaddr.ts";
import type { OperatingSystem, PlatformLayout } from "./types.ts";

/** Layout of `struct sockaddr_in` or `struct sockaddr_in6`. */
export interface SockaddrInetLayout {
  /** `sizeof` the struct. */
  readonly size: number;
  /** Offset of `sin_len`/`sin6_len` (BSDs), or -1 where there is none (Linux). */
  readonly len: number;
  /** Offset of the address family. */
  readonly family: number;
  /** Size of the family field: 2 on Linux, 1 on the BSDs. */
  readonly familySize: 1 | 2;
  /** Offset of the port (network byte order). */
  readonly port: number;
  /** Offset of the address bytes (4 for IPv4, 16 for IPv6). */
  readonly address: number;
  /** Offset of `sin6_flowinfo` (network byte order), or -1 for IPv4. */
  readonly flowInfo: number;
  /** Offset of `sin6_scope_id` (host byte order), or -1 for IPv4. */
  readonly scopeId: number;
}

/** What fdpass needs to know about one OS's internet sockets. */
export interface InetLayout {
  /** `AF_INET`. */
  readonly AF_INET: number;
  /** `AF_INET6`: 10 on Linux, 30 on macOS, 28 on FreeBSD. */
  readonly AF_INET6: number;
  /** `SO_ACCEPTCONN`: whether a socket is listening (at `SOL_SOCKET`). */
  readonly SO_ACCEPTCONN: number;
  /** `SO_REUSEADDR` (at `SOL_SOCKET`). */
  readonly SO_REUSEADDR: number;
  /** `sizeof(struct sockaddr_storage)`: room for any address. */
  readonly sockaddrStorageSize: number;
  /** `struct sockaddr_in`. */
  readonly sockaddrIn: SockaddrInetLayout;
  /** `struct sockaddr_in6`. */
  readonly sockaddrIn6: SockaddrInetLayout;
}

const LINUX_IN: SockaddrInetLayout = {
  size: 16,
  len: -1,
  family: 0,
  familySize: 2,
  port: 2,
  address: 4,
  flowInfo: -1,
  scopeId: -1,
};
const LINUX_IN6: SockaddrInetLayout = {
  size: 28,
  len: -1,
  family: 0,
  familySize: 2,
  port: 2,
  address: 8,
  flowInfo: 4,
  scopeId: 24,
};
const BSD_IN: SockaddrInetLayout = {
  ...LINUX_IN,
  len: 0,
  family: 1,
  familySize: 1,
};
const BSD_IN6: SockaddrInetLayout = {
  ...LINUX_IN6,
  len: 0,
  family: 1,
  familySize: 1,
};

/**
 * The internet layout of each operating system (Linux: `<netinet/in.h>`,
 * `<asm-generic/socket.h>`; xnu and FreeBSD: `<netinet/in.h>`,
 * `<netinet6/in6.h>`, `<sys/socket.h>`). The same on x86_64 and aarch64.
 */
export const INET_LAYOUTS: Readonly<Record<OperatingSystem, InetLayout>> = {
  linux: {
    AF_INET: 2,
    AF_INET6: 10,
    SO_ACCEPTCONN: 30,
    SO_REUSEADDR: 2,
    sockaddrStorageSize: 128,
    sockaddrIn: LINUX_IN,
    sockaddrIn6: LINUX_IN6,
  },
  darwin: {
    AF_INET: 2,
    AF_INET6: 30,
    SO_ACCEPTCONN: 0x0002,
    SO_REUSEADDR: 0x0004,
    sockaddrStorageSize: 128,
    sockaddrIn: BSD_IN,
    sockaddrIn6: BSD_IN6,
  },
  freebsd: {
    AF_INET: 2,
    AF_INET6: 28,
    SO_ACCEPTCONN: 0x0002,
    SO_REUSEADDR: 0x0004,
    sockaddrStorageSize: 128,
    sockaddrIn: BSD_IN,
    sockaddrIn6: BSD_IN6,
  },
};

/** A Unix socket address: a path, `"\0name"` (Linux abstract) or `""` (unnamed). */
export interface UnixSocketAddress {
  /** Always `"unix"`. */
  readonly family: "unix";
  /** The path, `"\0name"` for an abstract name, `""` for an unnamed socket. */
  readonly address: string;
}

/** An IPv4 or IPv6 socket address. */
export interface InetSocketAddress {
  /** `"inet"` (IPv4) or `"inet6"` (IPv6). */
  readonly family: "inet" | "inet6";
  /**
   * The address as text: `"127.0.0.1"`, or RFC 5952 IPv6 (`"::1"`,
   * `"::ffff:127.0.0.1"`), with `"%N"` appended for a nonzero scope id.
   */
  readonly address: string;
  /** The port. */
  readonly port: number;
}

/** What `getsockname`/`getpeername` return, decoded. */
export type SocketAddress = UnixSocketAddress | InetSocketAddress;

/** The bytes of an IPv4 address in dotted-decimal text, or `null`. */
export function parseIpv4(text: string): Uint8Array | null {
  if (typeof text !== "string") return null;
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // Decimal only: inet_aton's octal and hex forms are a known trap.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/** The 16 bytes of an IPv6 address in text (`"::1"`, `"::ffff:1.2.3.4"`), or `null`. */
export function parseIpv6(text: string): Uint8Array | null {
  if (typeof text !== "string" || text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        out.push(v4[0]! << 8 | v4[1]!, v4[2]! << 8 | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // A dotted quad is allowed only at the very end.
  if (halves.length === 2 && halves[0]!.includes(".")) return null;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const words = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((word, i) => {
    out[2 * i] = word >> 8;
    out[2 * i + 1] = word & 0xff;
  });
  return out;
}

/** Dotted-decimal text of 4 address bytes. */
export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * RFC 5952 text of 16 address bytes: lowercase, no leading zeros, the
 * longest run of two or more zero groups (the first of equals) as `"::"`,
 * and IPv4-mapped addresses as `"::ffff:1.2.3.4"`.
 */
export function formatIpv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) {
    words.push(bytes[2 * i]! << 8 | bytes[2 * i + 1]!);
  }
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string =>
    list.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${
    hex(words.slice(bestStart + bestLength))
  }`;
}

function writeFamily(
  bytes: Uint8Array,
  s: SockaddrInetLayout,
  family: number,
): void {
  if (s.familySize === 2) {
    new DataView(bytes.buffer).setUint16(s.family, family, true);
  } else {
    bytes[s.family] = family;
  }
  if (s.len >= 0) bytes[s.len] = s.size;
}

/**
 * Encodes an IP address literal and a port as a `sockaddr_in` (dotted
 * decimal) or `sockaddr_in6` (anything with a colon; an optional `"[...]"`
 * is removed). No name resolution: `"localhost"` is refused.
 *
 * @throws {TypeError} when `address` is not an IPv4 or IPv6 literal.
 * @throws {RangeError} when `port` is not an integer from 0 to 65535.
 */
export function encodeSockaddrInet(
  address: string,
  port: number,
  layout: PlatformLayout,
): EncodedSockaddr {
  const inet = INET_LAYOUTS[layout.os];
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot use address: port must be an integer from 0 to 65535, got ${
        String(port)
      }`,
    );
  }
  if (typeof address !== "string") {
    throw new TypeError("Cannot use address: expected a string");
  }
  const text = address.startsWith("[") && address.endsWith("]")
    ? address.slice(1, -1)
    : address;
  const v4 = text.includes(":") ? null : parseIpv4(text);
  const v6 = v4 === null ? parseIpv6(text) : null;
  if (v4 === null && v6 === null) {
    throw new TypeError(
      `Cannot use address: ${
        JSON.stringify(address)
      } is not an IPv4 or IPv6 address literal (names are not resolved)`,
    );
  }
  const s = v4 !== null ? inet.sockaddrIn : inet.sockaddrIn6;
  const bytes = new Uint8Array(s.size);
  writeFamily(bytes, s, v4 !== null ? inet.AF_INET : inet.AF_INET6);
  new DataView(bytes.buffer).setUint16(s.port, port, false);
  bytes.set(v4 ?? v6!, s.address);
  return { bytes, length: s.size };
}

/** The address family field of any `struct sockaddr` (the first `length` bytes). */
export function sockaddrFamily(
  bytes: Uint8Array,
  length: number,
  layout: PlatformLayout,
): number {
  const s = INET_LAYOUTS[layout.os].sockaddrIn;
  if (
    length < s.family + s.familySize || bytes.length < s.family + s.familySize
  ) {
    return -1;
  }
  return s.familySize === 2
    ? bytes[s.family]! | bytes[s.family + 1]! << 8
    : bytes[s.family]!;
}

/**
 * Decodes the first `length` bytes of an address as `getsockname`,
 * `getpeername` or `accept` return it: Unix, IPv4 or IPv6. `null` for any
 * other family or an address cut short.
 */
export function decodeSocketAddress(
  bytes: Uint8Array,
  length: number,
  layout: PlatformLayout,
): SocketAddress | null {
  const inet = INET_LAYOUTS[layout.os];
  const end = Math.min(length, bytes.length);
  const family = sockaddrFamily(bytes, end, layout);
  if (family === layout.constants.AF_UNIX) {
    return { family: "unix", address: decodeSockaddrUn(bytes, end, layout) };
  }
  const v6 = family === inet.AF_INET6;
  if (family !== inet.AF_INET && !v6) return null;
  const s = v6 ? inet.sockaddrIn6 : inet.sockaddrIn;
  if (end < s.address + (v6 ? 16 : 4)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, end);
  const port = view.getUint16(s.port, false);
  if (!v6) {
    return {
      family: "inet",
      address: formatIpv4(bytes.subarray(s.address, s.address + 4)),
      port,
    };
  }
  let address = formatIpv6(bytes.subarray(s.address, s.address + 16));
  if (end >= s.scopeId + 4) {
    const scope = view.getUint32(s.scopeId, true);
    if (scope !== 0) address += `%${scope}`;
  }
  return { family: "inet6", address, port };
}
