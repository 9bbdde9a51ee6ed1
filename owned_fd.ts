/**
 * {@linkcode OwnedFd}: one open file descriptor with exactly one owner.
 *
 * @module
 */

import { ClosedError } from "./errors.ts";
import { libc, systemError } from "./_system.ts";
import { inspectAsString } from "./_inspect.ts";
import { checkedLength } from "./platform/_views.ts";

const MAX_IO = 0x7fff_ffff;

/**
 * Owns one open file descriptor and closes it exactly once: on
 * {@linkcode OwnedFd.close}, at the end of a `using` block, or never if the
 * number is taken out with {@linkcode OwnedFd.release}. Never closed by the
 * garbage collector: fd numbers are reused, so a finalizer could close
 * someone else's file.
 *
 * Every descriptor fdpass receives arrives as an `OwnedFd`. Deno's `node:fs`
 * refuses descriptors it did not open, so `OwnedFd` offers the basic
 * operations itself (`readSync`, `writeSync`, `dup`); in Bun, `node:fs` and
 * `Bun.file(fd)` accept `fd.fd` directly.
 *
 * @example Pass a pipe through a socket pair and use it on the other side
 * ```ts
 * import { pipe, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * const [readEnd, writeEnd] = pipe();
 * a.sendSync(new Uint8Array([1]), [writeEnd]); // borrowed: still ours
 * writeEnd.close();
 * const { fds: [received] } = b.receiveSync(new Uint8Array(1));
 * {
 *   using w = received!;
 *   w.writeSync(new TextEncoder().encode("hi"));
 * }
 * const text = new Uint8Array(2);
 * readEnd.readSync(text);
 * console.log(new TextDecoder().decode(text)); // "hi"
 * for (const x of [a, b, readEnd]) x.close();
 * ```
 */
export class OwnedFd implements Disposable {
  #fd: number;

  /**
   * Takes ownership of `fd`: from now on only this object may close it.
   *
   * @throws {TypeError} if `fd` is not a non-negative integer.
   */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fff_ffff) {
      throw new TypeError(
        `Cannot own file descriptor: expected a non-negative integer, got ${
          String(fd)
        }`,
      );
    }
    this.#fd = fd;
  }

  /**
   * The descriptor number, for passing to other APIs (it stays owned here).
   *
   * @throws {ClosedError} once closed or released.
   */
  get fd(): number {
    if (this.#fd < 0) {
      throw new ClosedError("Cannot use file descriptor: it is closed");
    }
    return this.#fd;
  }

  /** Whether the descriptor was closed or released. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Gives up ownership and returns the number; the caller must close it.
   *
   * @throws {ClosedError} once closed or released.
   */
  release(): number {
    const fd = this.fd;
    this.#fd = -1;
    return fd;
  }

  /**
   * Reads up to `buffer.length` bytes into `buffer`; returns the count, 0 at
   * end of file. Blocks if the descriptor is a blocking pipe or socket.
   */
  readSync(buffer: Uint8Array): number {
    // The engine's own length: a shadowed byteLength must not size the read.
    const length = Math.min(checkedLength(buffer, "Cannot read"), MAX_IO);
    const lib = libc();
    const EINTR = lib.platform.errno.EINTR;
    for (;;) {
      const r = lib.read(this.fd, buffer, length);
      if (r >= 0) return r;
      if (-r !== EINTR) throw systemError(-r, "read", "Cannot read");
    }
  }

  /** Writes bytes of `data`; returns how many were written. */
  writeSync(data: Uint8Array): number {
    const length = Math.min(checkedLength(data, "Cannot write"), MAX_IO);
    const lib = libc();
    const EINTR = lib.platform.errno.EINTR;
    for (;;) {
      const r = lib.write(this.fd, data, length);
      if (r >= 0) return r;
      if (-r !== EINTR) throw systemError(-r, "write", "Cannot write");
    }
  }

  /** A new descriptor for the same open file, close-on-exec, owned by the result. */
  dup(): OwnedFd {
    const lib = libc();
    const r = lib.fcntl(this.fd, lib.platform.constants.F_DUPFD_CLOEXEC, 0);
    if (r < 0) throw systemError(-r, "fcntl", "Cannot duplicate descriptor");
    return new OwnedFd(r);
  }

  /**
   * Closes the descriptor. Calling it again is a no-op.
   *
   * @throws {SystemError} with code `"EBADF"` if something else closed the
   * number behind this object's back.
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const r = libc().close(fd);
    // After EINTR Linux has already released the descriptor: never retry.
    if (r < 0 && -r !== libc().platform.errno.EINTR) {
      throw systemError(-r, "close", "Cannot close file descriptor");
    }
  }

  /** Closes the descriptor (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Shows the number, or that it is closed. */
  toString(): string {
    return this.#fd < 0 ? "OwnedFd(closed)" : `OwnedFd(${this.#fd})`;
  }
}

inspectAsString(OwnedFd.prototype);

/**
 * @internal Moves `fd` into a new {@linkcode OwnedFd}: an `OwnedFd` gives
 * its number up (and reads as closed), a plain number is adopted.
 */
export function takeOwnership(fd: number | OwnedFd): OwnedFd {
  return new OwnedFd(fd instanceof OwnedFd ? fd.release() : fd);
}

/**
 * Creates a pipe: `[readEnd, writeEnd]`, both close-on-exec and owned.
 *
 * @example
 * ```ts
 * import { pipe } from "./mod.ts";
 *
 * const [r, w] = pipe();
 * w.writeSync(new Uint8Array([42]));
 * const byte = new Uint8Array(1);
 * r.readSync(byte);
 * console.log(byte[0]); // 42
 * r.close();
 * w.close();
 * ```
 */
export function pipe(): [OwnedFd, OwnedFd] {
  const lib = libc();
  const fds = new Int32Array(2);
  const r = lib.pipe(fds, lib.platform.constants.O_CLOEXEC);
  if (r < 0) throw systemError(-r, "pipe", "Cannot create pipe");
  return [new OwnedFd(fds[0]!), new OwnedFd(fds[1]!)];
}
