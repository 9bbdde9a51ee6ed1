/**
 * {@linkcode memfd}: an anonymous file in memory (Linux), to share bytes
 * with another process by passing its descriptor instead of copying them.
 *
 * @module
 */

import { libc, systemError } from "./_system.ts";
import { OwnedFd, type Seal, sealBits } from "./owned_fd.ts";

/** Options for {@linkcode memfd}. */
export interface MemfdOptions {
  /** Initial size in bytes (zeros), set before any seal. Default 0. */
  size?: number;
  /**
   * Seals to add once the size is set: `["shrink", "grow"]` fixes the size
   * so a peer that maps the file can never be cut short (SIGBUS); add
   * `"write"` later with {@linkcode OwnedFd.addSeals} once the contents are
   * final.
   */
  seal?: readonly Seal[];
}

/** Linux refuses longer names: `NAME_MAX` (255) minus the `memfd:` prefix. */
const MAX_NAME = 249;

/**
 * Creates an anonymous in-memory file (`memfd_create`, Linux 3.17+) that
 * allows sealing, close-on-exec, owned by the returned {@linkcode OwnedFd}.
 * Its `name` only shows in `/proc/PID/fd`. Pass the descriptor to another
 * process, which can `readAt`/`writeAt` it or map it; a receiver checks
 * {@linkcode OwnedFd.seals} before trusting the size.
 *
 * @throws {TypeError} if `name` is not a string, holds a NUL, or an option
 * has the wrong type.
 * @throws {RangeError} if `name` is longer than 249 UTF-8 bytes or `size`
 * is not an integer from 0 to 2^53-1.
 * @throws {SystemError} `ENOSYS` off Linux (or in a C library without
 * `memfd_create`), `EMFILE`, ...; nothing stays open.
 *
 * @example Share bytes through a sealed memfd
 * ```ts
 * import { memfd, socketPair } from "./mod.ts";
 *
 * const data = new TextEncoder().encode("shared, not copied");
 * using file = memfd("example", { size: data.length });
 * await file.writeAt(data, 0);
 * file.addSeals(["shrink", "grow", "write", "seal"]);
 *
 * const [a, b] = socketPair();
 * a.sendSync(new Uint8Array([1]), [file]);
 * const { fds: [received] } = b.receiveSync(new Uint8Array(1));
 * using copy = received!;
 * console.log(copy.seals().includes("write")); // true: it cannot change
 * const buffer = new Uint8Array(data.length);
 * await copy.readAt(buffer, 0);
 * console.log(new TextDecoder().decode(buffer)); // shared, not copied
 * a.close();
 * b.close();
 * ```
 */
export function memfd(name: string, options: MemfdOptions = {}): OwnedFd {
  const action = "Cannot create memfd";
  if (typeof name !== "string") {
    throw new TypeError(`${action}: name must be a string`);
  }
  if (name.includes("\0")) {
    throw new TypeError(`${action}: name must not contain NUL`);
  }
  const encoded = new TextEncoder().encode(name);
  if (encoded.length > MAX_NAME) {
    throw new RangeError(
      `${action}: name is ${encoded.length} bytes; at most ${MAX_NAME}`,
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${action}: options must be an object`);
  }
  const size = options.size ?? 0;
  const seal = options.seal;
  if (typeof size !== "number") {
    throw new TypeError(`${action}: size must be a number`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(
      `${action}: size must be an integer from 0 to 2^53-1, got ${size}`,
    );
  }
  const lib = libc();
  const seals = seal === undefined ? 0 : sealBits(seal, lib, action);
  const path = new Uint8Array(encoded.length + 1);
  path.set(encoded);
  const c = lib.platform.constants;
  const r = lib.memfdCreate(path, c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
  if (r < 0) throw systemError(-r, "memfd_create", action);
  const fd = new OwnedFd(r);
  try {
    if (size > 0) {
      const t = lib.ftruncate(r, size);
      if (t < 0) throw systemError(-t, "ftruncate", action);
    }
    if (seals !== 0) {
      const s = lib.fcntl(r, c.F_ADD_SEALS, seals);
      if (s < 0) throw systemError(-s, "fcntl", action);
    }
  } catch (error) {
    fd.close();
    throw error;
  }
  return fd;
}
