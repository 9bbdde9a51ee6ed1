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

  /**
   * Duplicates the descriptor onto the number `target` and returns the
   * owner of that number: `dup3(2)` on Linux (`dup2` and `fcntl`
   * elsewhere). Whatever `target` referred to is closed first, in the same
   * step; if an `OwnedFd` owns that number, `release()` it before. Whether
   * the copy survives `exec` is stated, never defaulted: a broker puts a
   * received socket at fd 3 with `closeOnExec: false` before starting a
   * program that expects it there.
   *
   * @throws {TypeError} if `closeOnExec` is not a boolean.
   * @throws {RangeError} if `target` is not an integer from 0 to 2^31-1, or
   * is this descriptor's own number.
   * @throws {SystemError} `EBADF` when `target` is beyond the process's
   * descriptor limit.
   * @throws {ClosedError} once closed or released.
   *
   * @example Put a descriptor at a number of your choosing
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r, w] = pipe();
   * using copy = w.dup2(100, { closeOnExec: true });
   * console.log(copy.fd); // 100
   * copy.writeSync(new Uint8Array([1]));
   * console.log(r.readSync(new Uint8Array(1))); // 1
   * r.close();
   * w.close();
   * ```
   */
  dup2(target: number, options: Dup2Options): OwnedFd {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot duplicate descriptor: expected options");
    }
    const closeOnExec = options.closeOnExec;
    if (typeof closeOnExec !== "boolean") {
      throw new TypeError(
        "Cannot duplicate descriptor: closeOnExec must be true or false",
      );
    }
    if (!Number.isInteger(target) || target < 0 || target > 0x7fff_ffff) {
      throw new RangeError(
        `Cannot duplicate descriptor: target must be an integer from 0 to 2147483647, got ${
          String(target)
        }`,
      );
    }
    const fd = this.fd;
    if (target === fd) {
      throw new RangeError(
        `Cannot duplicate descriptor: ${target} is its own number`,
      );
    }
    const lib = libc();
    const c = lib.platform.constants;
    const { EINTR, EBUSY } = lib.platform.errno;
    for (;;) {
      // EBUSY: Linux caught target between allocation and install: retry.
      const r = lib.platform.os === "linux"
        ? lib.dup3(fd, target, closeOnExec ? c.O_CLOEXEC : 0)
        : lib.dup2(fd, target);
      if (r === -EINTR || r === -EBUSY) continue;
      if (r < 0) {
        throw systemError(
          -r,
          lib.platform.os === "linux" ? "dup3" : "dup2",
          "Cannot duplicate descriptor",
        );
      }
      break;
    }
    const copy = new OwnedFd(target);
    if (lib.platform.os !== "linux" && closeOnExec) {
      // dup2 leaves the copy inheritable; not atomic where dup3 is missing.
      const r = lib.fcntl(target, c.F_SETFD, c.FD_CLOEXEC);
      if (r < 0) {
        copy.close();
        throw systemError(-r, "fcntl", "Cannot duplicate descriptor");
      }
    }
    return copy;
  }
}

/** Options for {@linkcode OwnedFd.dup2}. */
export interface Dup2Options {
  /**
   * `true`: the copy is closed when this process execs another program;
   * `false`: that program inherits it at the target number.
   */
  closeOnExec: boolean;
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
