/**
 * Encoding and decoding of `struct sockaddr_un`, including Linux's abstract
 * namespace (a path that starts with `"\0"`).
 *
 * @module
 */

import type { PlatformLayout } from "./types.ts";

/** An encoded address and the `addrlen` to pass with it. */
export interface EncodedSockaddr {
  /** The whole `sockaddr_un`. */
  readonly bytes: Uint8Array;
  /** The `addrlen` to pass with it. */
  readonly length: number;
}

const encoder = new TextEncoder();
/** In a `u` regex a surrogate pair is one code point: only lone halves match. */
const LONE_SURROGATE = /\p{Cs}/u;
const decoder = new TextDecoder();

/**
 * Encodes a Unix socket address. `"\0name"` is an abstract name on Linux: the
 * name is exactly the bytes after the first NUL, without a terminator.
 *
 * @throws {TypeError} for an empty path, a lone surrogate, a NUL inside a
 * filesystem path, or an abstract name where the platform has none.
 * @throws {RangeError} when the path does not fit in `sun_path` with its NUL.
 */
export function encodeSockaddrUn(
  path: string,
  layout: PlatformLayout,
): EncodedSockaddr {
  const s = layout.sockaddrUn;
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError("Cannot use socket path: expected a non-empty string");
  }
  // UTF-8 cannot encode a lone surrogate: TextEncoder would bind U+FFFD,
  // a different name from the one asked for.
  if (LONE_SURROGATE.test(path)) {
    throw new TypeError(
      "Cannot use socket path: it contains a lone surrogate (not valid Unicode)",
    );
  }
  const abstract = path.charCodeAt(0) === 0;
  if (abstract && !s.abstract) {
    throw new TypeError(
      `Cannot use socket path: abstract names ("\\0...") exist only on Linux, not ${layout.os}`,
    );
  }
  const name = encoder.encode(abstract ? path.slice(1) : path);
  if (!abstract && name.includes(0)) {
    throw new TypeError("Cannot use socket path: it contains a NUL byte");
  }
  // Filesystem paths need a terminating NUL; abstract names need the leading one.
  if (name.length + 1 > s.pathSize) {
    throw new RangeError(
      `Cannot use socket path: ${name.length} bytes is longer than the ${
        s.pathSize - 1
      } bytes sun_path allows on ${layout.os}`,
    );
  }
  const bytes = new Uint8Array(s.size);
  bytes.set(name, s.path + (abstract ? 1 : 0));
  const length = s.path + 1 + name.length;
  writeFamily(bytes, length, layout);
  return { bytes, length };
}

/**
 * The address that asks Linux to autobind a socket: only `sun_family`, with
 * `addrlen = sizeof(sa_family_t)`. `bind` then gives the socket a unique
 * abstract name (`"\0"` and five hex digits), so that a datagram peer can
 * answer it.
 *
 * @throws {TypeError} where the platform has no autobind (macOS, FreeBSD:
 * bind to a path of your own instead).
 *
 * @example
 * ```ts
 * import { encodeAutobind, LINUX_X86_64 } from "./mod.ts";
 *
 * const { bytes, length } = encodeAutobind(LINUX_X86_64);
 * console.log(length, bytes[0]); // 2 1 (AF_UNIX, nothing else)
 * ```
 */
export function encodeAutobind(layout: PlatformLayout): EncodedSockaddr {
  const s = layout.sockaddrUn;
  if (!s.abstract) {
    throw new TypeError(
      `Cannot autobind: only Linux gives an unnamed socket an address of its own, not ${layout.os} (bind to a path instead)`,
    );
  }
  const bytes = new Uint8Array(s.size);
  writeFamily(bytes, s.path, layout);
  return { bytes, length: s.path };
}

function writeFamily(
  bytes: Uint8Array,
  length: number,
  layout: PlatformLayout,
): void {
  const s = layout.sockaddrUn;
  if (s.familySize === 2) {
    new DataView(bytes.buffer).setUint16(
      s.family,
      layout.constants.AF_UNIX,
      true,
    );
  } else {
    bytes[s.family] = layout.constants.AF_UNIX;
  }
  if (s.len >= 0) bytes[s.len] = length;
}

/**
 * Decodes the first `length` bytes of a `sockaddr_un` as returned by
 * `getsockname`/`accept`: `""` for an unnamed socket, `"\0name"` for an
 * abstract one.
 */
export function decodeSockaddrUn(
  bytes: Uint8Array,
  length: number,
  layout: PlatformLayout,
): string {
  const s = layout.sockaddrUn;
  const end = Math.min(length, s.size);
  if (end <= s.path) return "";
  if (s.abstract && bytes[s.path] === 0) {
    return "\0" + decoder.decode(bytes.subarray(s.path + 1, end));
  }
  let stop = s.path;
  while (stop < end && bytes[stop] !== 0) stop++;
  return decoder.decode(bytes.subarray(s.path, stop));
}
