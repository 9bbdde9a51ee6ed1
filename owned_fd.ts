/**
 * {@linkcode OwnedFd}: one open file descriptor with exactly one owner.
 *
 * @module
 */

import { ClosedError } from "./errors.ts";
import { type Libc, libc, systemError } from "./_system.ts";
import { inspectAsString } from "./_inspect.ts";
import { OperationQueue } from "./_queue.ts";
import { checkSignal, isAborted, throwIfAborted } from "./_signal.ts";
import { type Direction, forget, noteTry, waitReady } from "./_wait.ts";
import {
  checkedLength,
  viewBuffer,
  viewLength,
  viewOffset,
} from "./platform/_views.ts";
import { decodeStat, type FileInfo } from "./platform/stat.ts";

const MAX_IO = 0x7fff_ffff;

/** Options of {@linkcode OwnedFd.read} and {@linkcode OwnedFd.write}. */
export interface IoOptions {
  /**
   * Aborting rejects the call with the signal's reason. A `write` may have
   * written part of its data by then.
   */
  signal?: AbortSignal;
}

/** Where {@linkcode OwnedFd.seek} counts from: `SEEK_SET`, `SEEK_CUR`, `SEEK_END`. */
export type SeekWhence = "start" | "current" | "end";

/**
 * A file seal (`F_SEAL_*`, Linux memfds): once added, the kernel refuses
 * the sealed operation to every holder of the file, for good.
 * `"seal"` forbids adding more seals; `"shrink"` and `"grow"` forbid
 * changing the size; `"write"` forbids writing (and fails while a writable
 * shared mapping exists); `"future-write"` forbids new writes but lets
 * existing writable mappings go on (Linux 5.1+).
 */
export type Seal = "seal" | "shrink" | "grow" | "write" | "future-write";

const SEALS: readonly Seal[] = [
  "seal",
  "shrink",
  "grow",
  "write",
  "future-write",
];

/**
 * The error of a close that returned `r` < 0 (apart from the method, so that
 * close() stays small enough for the engines to inline where descriptors
 * are closed in a loop).
 */
function closeFailed(r: number): void {
  // After EINTR Linux has already released the descriptor: never retry.
  if (-r !== libc().platform.errno.EINTR) {
    throw systemError(-r, "close", "Cannot close file descriptor");
  }
}

/** The error of reading `fd` from a closed {@linkcode OwnedFd}. */
function closedFd(): never {
  throw new ClosedError("Cannot use file descriptor: it is closed");
}

/**
 * What calls pending on a descriptor closed under them reject with, built
 * only when a call was pending: almost every close has none, and an Error's
 * stack cost about 3 µs in Deno, more than the send and receive before it.
 */
const closedError = (): ClosedError =>
  new ClosedError("Cannot complete: the descriptor was closed");

// How a descriptor waits, found once: a socket by its first recv/send, else by `fstat`.
const UNKNOWN = 0;
/** Sockets: recv/send with MSG_DONTWAIT. */
const SOCKET = 1;
/** Pipes, FIFOs, ttys, eventfds: readiness, then the call. */
const POLLABLE = 2;
/** Regular files, block devices, directories: epoll refuses them; the call at once. */
const DIRECT = 3;

const READ: Direction = 0;
const WRITE: Direction = 1;

/** Bytes a readable stream asks for when the reader brings no buffer. */
const CHUNK_SIZE = 64 * 1024;

/** One `struct pollfd { int fd; short events; short revents; }`, reused. */
const pollfd = new Uint8Array(new ArrayBuffer(8));
const pollfdInts = new Int32Array(pollfd.buffer, 0, 1);
const pollfdShorts = new Int16Array(pollfd.buffer, 4, 2);

/**
 * Whether `fd` is ready for `events` right now (`poll` with a zero
 * timeout). An error, hang-up or invalid descriptor counts as ready: the
 * call that follows reports it.
 */
function ready(lib: Libc, fd: number, events: number): boolean {
  pollfdInts[0] = fd;
  pollfdShorts[0] = events;
  pollfdShorts[1] = 0;
  const r = lib.poll(pollfd, 1, 0);
  if (r < 0) {
    if (-r === lib.platform.errno.EINTR) return false;
    throw systemError(-r, "poll", "Cannot wait for the descriptor");
  }
  return r > 0;
}

/** What {@linkcode transfer} returns for `UNKNOWN` when the descriptor is no socket. */
const NOT_SOCKET = -2;

/**
 * One read or write that never blocks on a not-ready descriptor of `kind`,
 * EINTR retried: the bytes moved, or -1 when it is not ready (`EAGAIN`,
 * also where the sender made the description O_NONBLOCK). For `UNKNOWN` it
 * makes the socket call (`recv`/`send` with `MSG_DONTWAIT`), which a
 * non-socket refuses with `ENOTSOCK` before touching anything: then it
 * returns {@linkcode NOT_SOCKET}.
 */
function transfer(
  lib: Libc,
  kind: number,
  direction: Direction,
  fd: number,
  view: Uint8Array,
  length: number,
): number {
  const c = lib.platform.constants;
  const { EINTR, EAGAIN, ENOTSOCK } = lib.platform.errno;
  // UNKNOWN: the socket call doubles as the type check (ENOTSOCK).
  const socket = kind === SOCKET || kind === UNKNOWN;
  for (;;) {
    const r = direction === READ
      ? socket
        ? lib.recv(fd, view, length, c.MSG_DONTWAIT)
        : lib.read(fd, view, length)
      : socket
      ? lib.send(fd, view, length, c.MSG_DONTWAIT | c.MSG_NOSIGNAL)
      : lib.write(fd, view, length);
    if (r >= 0) {
      noteTry(true);
      return r;
    }
    if (-r === EAGAIN && kind !== DIRECT) {
      noteTry(false);
      return -1;
    }
    if (-r === ENOTSOCK && kind === UNKNOWN) return NOT_SOCKET;
    if (-r !== EINTR) {
      throw direction === READ
        ? systemError(-r, socket ? "recv" : "read", "Cannot read")
        : systemError(-r, socket ? "send" : "write", "Cannot write");
    }
  }
}

function statBytes(lib: Libc, fd: number, action: string): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(lib.platform.stat.size));
  const r = lib.fstat(fd, bytes);
  if (r < 0) throw systemError(-r, "fstat", action);
  return bytes;
}

function sealBit(seal: Seal, c: Libc["platform"]["constants"]): number {
  switch (seal) {
    case "seal":
      return c.F_SEAL_SEAL;
    case "shrink":
      return c.F_SEAL_SHRINK;
    case "grow":
      return c.F_SEAL_GROW;
    case "write":
      return c.F_SEAL_WRITE;
    case "future-write":
      return c.F_SEAL_FUTURE_WRITE;
  }
}

/** @internal The `F_SEAL_*` bits of `seals`, after checking every name. */
export function sealBits(seals: unknown, lib: Libc, action: string): number {
  if (!Array.isArray(seals)) {
    throw new TypeError(`${action}: seals must be an array of seal names`);
  }
  let bits = 0;
  for (const seal of seals as unknown[]) {
    if (!SEALS.includes(seal as Seal)) {
      throw new TypeError(
        `${action}: unknown seal ${String(seal)} (expected one of ${
          SEALS.join(", ")
        })`,
      );
    }
    bits |= sealBit(seal as Seal, lib.platform.constants);
  }
  return bits;
}

function signalOf(options: unknown, action: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${action}: options must be an object`);
  }
  return checkSignal((options as IoOptions).signal, action);
}

/** The result of `run()` as a promise: the call itself runs now, synchronously. */
function settle<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error);
  }
}

function checkPosition(value: unknown, name: string, action: string): number {
  if (typeof value !== "number") {
    throw new TypeError(`${action}: ${name} must be a number`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `${action}: ${name} must be an integer from 0 to 2^53-1, got ${value}`,
    );
  }
  return value;
}

/** `data[from..]` as a plain view over the same memory (never `.subarray`, which a subclass may override). */
function rest(data: Uint8Array, from: number, length: number): Uint8Array {
  return from === 0 ? data : new Uint8Array(
    viewBuffer(data),
    viewOffset(data) + from,
    length - from,
  );
}

/** What an {@linkcode OwnedFd} needs only once it does async I/O. */
class IoState {
  reads: OperationQueue | undefined = undefined;
  writes: OperationQueue | undefined = undefined;
  readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined = undefined;
  writable: WritableStream<Uint8Array> | undefined = undefined;
  /** Streams taken and not yet ended; the last to end closes the descriptor. */
  streams = 0;
}

/**
 * Owns one open file descriptor and closes it exactly once: on
 * {@linkcode OwnedFd.close}, at the end of a `using` block, or never if the
 * number is taken out with {@linkcode OwnedFd.release}. Never closed by the
 * garbage collector: fd numbers are reused, so a finalizer could close
 * someone else's file.
 *
 * Every descriptor fdpass receives arrives as an `OwnedFd`. Deno's `node:fs`
 * refuses descriptors it did not open, so `OwnedFd` does the I/O itself, in
 * both runtimes: async {@linkcode OwnedFd.read}/{@linkcode OwnedFd.write}
 * and web streams ({@linkcode OwnedFd.readable}/{@linkcode OwnedFd.writable})
 * that never block the event loop on pipes, sockets, ttys or eventfds;
 * positional and metadata calls for files (`readAt`, `writeAt`, `seek`,
 * `truncate`, `stat`); the blocking `readSync`/`writeSync`; `dup`. None of
 * them changes `O_NONBLOCK`, which the sender of a received descriptor
 * shares. In Bun, `node:fs` and `Bun.file(fd)` also accept `fd.fd`.
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
  #kind = UNKNOWN;
  /**
   * Created on first async read or write or stream: most descriptors are
   * only passed on or closed, and a received batch of 253 allocates one
   * object each, so the object stays three fields small.
   */
  #io: IoState | undefined;

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
    // The error apart: small enough for the engine to inline anywhere.
    if (this.#fd < 0) closedFd();
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
    // Pending async calls must never reach the number's next owner.
    forget(
      fd,
      () => new ClosedError("Cannot complete: the descriptor was released"),
    );
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

  /**
   * Reads up to `buffer.length` bytes into `buffer` without blocking the
   * event loop; resolves with the count, 0 at end of file (or for an empty
   * buffer). Reads on one descriptor run in call order.
   *
   * How it waits depends on what the descriptor is (found once: a socket
   * by its first `recv`/`send`, anything else then by `fstat`), and never
   * changes `O_NONBLOCK`, which the sender of a received descriptor shares:
   * - sockets of any family: `recv` with `MSG_DONTWAIT`;
   * - pipes, FIFOs, ttys, eventfds and other character devices: the
   *   process's reactor reports readiness, `poll` with a zero timeout
   *   confirms it, then `read` returns what is there. Only another reader of
   *   the same pipe (the sender, say) draining it in between could make that
   *   `read` wait;
   * - regular files, block devices: epoll cannot watch them and they are
   *   always "ready", so the `read` runs at once, synchronously (a slow disk
   *   holds the event loop for that call).
   *
   * @throws {TypeError} if `buffer` is not a `Uint8Array` or `signal` not an
   * `AbortSignal`.
   * @throws {SystemError} when the kernel refuses (`EBADF`, `ECONNRESET`, ...).
   * @throws {ClosedError} if the descriptor is or gets closed (or released).
   *
   * @example Read what arrives on a pipe, without blocking timers
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r, w] = pipe();
   * const buffer = new Uint8Array(16);
   * const pending = r.read(buffer);
   * setTimeout(() => w.writeSync(new TextEncoder().encode("later")), 10);
   * const n = await pending;
   * console.log(new TextDecoder().decode(buffer.subarray(0, n))); // later
   * r.close();
   * w.close();
   * ```
   */
  // deno-lint-ignore require-await -- async so that bad input rejects
  async read(buffer: Uint8Array, options?: IoOptions): Promise<number> {
    checkedLength(buffer, "Cannot read");
    const signal = signalOf(options, "Cannot read");
    const aborted = isAborted(signal); // before the descriptor is checked
    const fd = this.#checkOpen("read");
    const first = (this.#io?.reads?.idle ?? true) && !aborted;
    if (first) {
      // Nothing queued before it: try at once, without a queue or a turn.
      const r = this.#tryRead(fd, buffer);
      if (r >= 0) return r;
    }
    return this.#readQueued(buffer, signal, first);
  }

  /**
   * Writes all of `data` without blocking the event loop; resolves with
   * `data.length` once every byte is in the kernel. Writes on one
   * descriptor run in call order. Waits as {@linkcode OwnedFd.read} does:
   * `send` with `MSG_DONTWAIT` on sockets; on pipes and other character
   * devices readiness, then chunks of at most `PIPE_BUF` bytes, which a
   * pipe that reported room cannot block on; on regular files a plain,
   * synchronous `write`. A tty or device that reports room for fewer bytes
   * than `PIPE_BUF` could still hold one chunk's `write` briefly.
   *
   * @throws {TypeError} if `data` is not a `Uint8Array` or `signal` not an
   * `AbortSignal`.
   * @throws {SystemError} when the kernel refuses (`EPIPE`: no reader, ...).
   * @throws {ClosedError} if the descriptor is or gets closed (or released).
   *
   * @example
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r, w] = pipe();
   * await w.write(new TextEncoder().encode("hello"));
   * w.close();
   * console.log(await new Response(r.readable).text()); // hello
   * ```
   */
  // deno-lint-ignore require-await -- async so that bad input rejects
  async write(data: Uint8Array, options?: IoOptions): Promise<number> {
    const total = checkedLength(data, "Cannot write");
    const signal = signalOf(options, "Cannot write");
    const aborted = isAborted(signal); // before the descriptor is checked
    const fd = this.#checkOpen("write");
    let written = 0;
    if (
      total > 0 && (this.#io?.writes?.idle ?? true) && !aborted
    ) {
      // Nothing queued before it: try at once, without a queue or a turn.
      const r = this.#tryWrite(fd, data, 0, total);
      if (r >= total) return r;
      if (r > 0) written = r;
    }
    return this.#writeQueued(data, total, signal, written);
  }

  /**
   * The descriptor's bytes as a byte stream (BYOB readers read straight
   * into their buffer), read with {@linkcode OwnedFd.read}. The same stream
   * on every access.
   *
   * Who closes the descriptor: the streams do, as Deno's `FsFile` streams
   * do. Once every stream taken from this object (`readable`, `writable`)
   * has ended (reached end of file, errored, been cancelled or aborted, or
   * been closed) the descriptor is closed. Closing the descriptor yourself
   * at any time is fine too: pending reads reject with a
   * {@linkcode ClosedError} and the stream errors.
   *
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example Read a pipe as text
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r, w] = pipe();
   * w.writeSync(new TextEncoder().encode("streamed"));
   * w.close();
   * console.log(await new Response(r.readable).text()); // streamed
   * console.log(r.closed); // true: the stream ended, so it closed r
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const io = this.#io ??= new IoState();
    if (io.readable !== undefined) return io.readable;
    this.#checkOpen("read");
    const end = this.#holdForStream(io);
    const cancel = new AbortController();
    const options = { signal: cancel.signal };
    const source = {
      type: "bytes" as const,
      autoAllocateChunkSize: CHUNK_SIZE,
      pull: async (controller: ReadableByteStreamController) => {
        const request = controller.byobRequest!;
        const view = request.view!;
        const target = new Uint8Array(
          viewBuffer(view),
          viewOffset(view),
          viewLength(view),
        );
        let n: number;
        try {
          n = await this.read(target, options);
        } catch (error) {
          end();
          throw error;
        }
        if (n === 0) {
          end();
          controller.close();
          request.respond(0);
        } else {
          request.respond(n);
        }
      },
      cancel: (reason: unknown) => {
        cancel.abort(reason);
        end();
      },
    };
    return io.readable = new ReadableStream(source);
  }

  /**
   * A stream that writes each chunk with {@linkcode OwnedFd.write}: a
   * chunk's write promise resolves once its bytes are in the kernel, so
   * `pipeTo` and writers see the kernel's backpressure. The same stream on
   * every access. Closing it on a socket first shuts down the sending side
   * (`shutdown(SHUT_WR)`), so the peer sees end of stream even while the
   * socket stays open for reading or another process holds it. Who closes
   * the descriptor: as for {@linkcode OwnedFd.readable}.
   *
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example Copy one pipe into another
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r1, w1] = pipe();
   * const [r2, w2] = pipe();
   * w1.writeSync(new TextEncoder().encode("copied"));
   * w1.close();
   * await r1.readable.pipeTo(w2.writable); // closes r1 and w2 at the end
   * console.log(await new Response(r2.readable).text()); // copied
   * ```
   */
  get writable(): WritableStream<Uint8Array> {
    const io = this.#io ??= new IoState();
    if (io.writable !== undefined) return io.writable;
    this.#checkOpen("write");
    const end = this.#holdForStream(io);
    return io.writable = new WritableStream<Uint8Array>({
      write: async (chunk, controller) => {
        // `signal` aborts at once on `writer.abort()`; bun-types lacks it.
        const { signal } = controller as { signal?: AbortSignal };
        try {
          await this.write(chunk, signal === undefined ? {} : { signal });
        } catch (error) {
          end();
          throw error;
        }
      },
      close: () => {
        if (!this.closed) {
          const lib = libc();
          const fd = this.#fd;
          if (this.#kindOf(fd, lib) === SOCKET) {
            // Not connected, already shut down: nothing more to end.
            lib.shutdown(fd, lib.platform.constants.SHUT_WR);
          }
        }
        end();
      },
      abort: () => end(),
    });
  }

  /**
   * Reads up to `buffer.length` bytes from byte `position` of the file
   * (`pread`): the file offset, which a received descriptor shares with the
   * sender's copy, neither matters nor moves. Resolves with the count, 0 at
   * or past the end. Runs synchronously (files are always "ready").
   *
   * @throws {RangeError} if `position` is not an integer from 0 to 2^53-1.
   * @throws {SystemError} `ESPIPE` on a pipe or socket, ...
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-readat");
   * await file.write(new TextEncoder().encode("0123456789"));
   * const buffer = new Uint8Array(3);
   * await file.readAt(buffer, 4);
   * console.log(new TextDecoder().decode(buffer)); // 456
   * ```
   */
  readAt(buffer: Uint8Array, position: number): Promise<number> {
    return settle(() => {
      const length = Math.min(checkedLength(buffer, "Cannot read"), MAX_IO);
      const offset = checkPosition(position, "position", "Cannot read");
      const fd = this.#checkOpen("read");
      const lib = libc();
      for (;;) {
        const r = lib.pread(fd, buffer, length, offset);
        if (r >= 0) return r;
        if (-r !== lib.platform.errno.EINTR) {
          throw systemError(-r, "pread", "Cannot read");
        }
      }
    });
  }

  /**
   * Writes all of `data` at byte `position` of the file (`pwrite`), without
   * using or moving the shared file offset; resolves with `data.length`.
   * Runs synchronously.
   *
   * @throws {RangeError} if `position` is not an integer from 0 to 2^53-1.
   * @throws {SystemError} `ESPIPE` on a pipe or socket, `EPERM` on a sealed memfd, ...
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-writeat");
   * await file.writeAt(new TextEncoder().encode("end"), 5);
   * console.log((await file.stat()).size); // 8
   * ```
   */
  writeAt(data: Uint8Array, position: number): Promise<number> {
    return settle(() => {
      const total = checkedLength(data, "Cannot write");
      const offset = checkPosition(position, "position", "Cannot write");
      if (offset + total > Number.MAX_SAFE_INTEGER) {
        throw new RangeError("Cannot write: position + length passes 2^53-1");
      }
      const fd = this.#checkOpen("write");
      const lib = libc();
      let written = 0;
      while (written < total) {
        if (checkedLength(data, "Cannot write") < total) {
          throw new TypeError("Cannot write: the buffer shrank while written");
        }
        const length = Math.min(total - written, MAX_IO);
        const r = lib.pwrite(
          fd,
          rest(data, written, total),
          length,
          offset + written,
        );
        if (r >= 0) written += r;
        else if (-r !== lib.platform.errno.EINTR) {
          throw systemError(-r, "pwrite", "Cannot write");
        }
      }
      return written;
    });
  }

  /**
   * Moves the file offset (`lseek`) to `offset` bytes from the start, the
   * current offset or the end; resolves with the new offset from the start.
   * The offset belongs to the open file, so every process holding this
   * descriptor (the sender too) sees it move. Runs synchronously.
   *
   * @throws {RangeError} if `offset` is not a safe integer.
   * @throws {TypeError} if `whence` is not `"start"`, `"current"` or `"end"`.
   * @throws {SystemError} `ESPIPE` on a pipe or socket, `EINVAL` before the start.
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-seek");
   * await file.write(new TextEncoder().encode("abcdef"));
   * console.log(await file.seek(-2, "end")); // 4
   * ```
   */
  seek(offset: number, whence: SeekWhence = "start"): Promise<number> {
    return settle(() => {
      if (typeof offset !== "number" || !Number.isSafeInteger(offset)) {
        throw new RangeError(
          `Cannot seek: offset must be a safe integer, got ${String(offset)}`,
        );
      }
      const lib = libc();
      const c = lib.platform.constants;
      const how = whence === "start"
        ? c.SEEK_SET
        : whence === "current"
        ? c.SEEK_CUR
        : whence === "end"
        ? c.SEEK_END
        : undefined;
      if (how === undefined) {
        throw new TypeError(
          `Cannot seek: whence must be "start", "current" or "end", got ${
            String(whence)
          }`,
        );
      }
      const fd = this.#checkOpen("seek");
      const r = lib.lseek(fd, offset, how);
      if (r < 0) throw systemError(-r, "lseek", "Cannot seek");
      return r;
    });
  }

  /**
   * Sets the file's size to `size` bytes (`ftruncate`): cut, or extended
   * with zeros. Runs synchronously.
   *
   * @throws {RangeError} if `size` is not an integer from 0 to 2^53-1.
   * @throws {SystemError} `EINVAL` on a pipe or socket, `EPERM` on a sealed memfd, ...
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-truncate");
   * await file.truncate(4096);
   * console.log((await file.stat()).size); // 4096
   * ```
   */
  truncate(size: number = 0): Promise<void> {
    return settle(() => {
      const length = checkPosition(size, "size", "Cannot truncate");
      const fd = this.#checkOpen("truncate");
      const lib = libc();
      for (;;) {
        const r = lib.ftruncate(fd, length);
        if (r >= 0) return;
        if (-r !== lib.platform.errno.EINTR) {
          throw systemError(-r, "ftruncate", "Cannot truncate");
        }
      }
    });
  }

  /**
   * What the descriptor refers to (`fstat`): type, size, mode, inode,
   * owner, times. Runs synchronously.
   *
   * @throws {SystemError} `ENOSYS` where the C library has no `fstat`
   * symbol (glibc before 2.33).
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { pipe } from "./mod.ts";
   *
   * const [r, w] = pipe();
   * console.log((await r.stat()).type); // pipe
   * r.close();
   * w.close();
   * ```
   */
  stat(): Promise<FileInfo> {
    return settle(() => {
      const fd = this.#checkOpen("stat");
      const lib = libc();
      return decodeStat(statBytes(lib, fd, "Cannot stat"), lib.platform);
    });
  }

  /**
   * Adds seals to a memfd (`fcntl(F_ADD_SEALS)`, Linux): from now on the
   * kernel refuses the sealed operations to every holder of the file.
   *
   * @throws {TypeError} for an unknown seal name.
   * @throws {SystemError} `EPERM` once `"seal"` was added (or for `"write"`
   * while a writable shared mapping exists), `EINVAL` if the file does not
   * allow sealing, `ENOSYS` off Linux.
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-seal");
   * await file.write(new TextEncoder().encode("final"));
   * file.addSeals(["write", "shrink", "grow", "seal"]);
   * console.log(file.seals()); // [ "seal", "shrink", "grow", "write" ]
   * ```
   */
  addSeals(seals: readonly Seal[]): void {
    const lib = libc();
    const bits = sealBits(seals, lib, "Cannot add seals");
    const fd = this.#checkOpen("add seals");
    const c = lib.platform.constants;
    if (c.F_ADD_SEALS === 0) {
      throw systemError(lib.platform.errno.ENOSYS, "fcntl", "Cannot add seals");
    }
    const r = lib.fcntl(fd, c.F_ADD_SEALS, bits);
    if (r < 0) throw systemError(-r, "fcntl", "Cannot add seals");
  }

  /**
   * The seals on this file (`fcntl(F_GET_SEALS)`, Linux): a receiver checks
   * them before it trusts a memfd's size or contents not to change.
   * Empty for a memfd without seals.
   *
   * @throws {SystemError} `EINVAL` for a file that does not support seals,
   * `ENOSYS` off Linux.
   * @throws {ClosedError} if the descriptor is closed.
   *
   * @example
   * ```ts
   * import { memfd } from "./mod.ts";
   *
   * using file = memfd("doc-seals", { size: 64, seal: ["shrink", "grow"] });
   * console.log(file.seals()); // [ "shrink", "grow" ]
   * ```
   */
  seals(): Seal[] {
    const fd = this.#checkOpen("read seals");
    const lib = libc();
    const c = lib.platform.constants;
    if (c.F_GET_SEALS === 0) {
      throw systemError(
        lib.platform.errno.ENOSYS,
        "fcntl",
        "Cannot read seals",
      );
    }
    const r = lib.fcntl(fd, c.F_GET_SEALS, 0);
    if (r < 0) throw systemError(-r, "fcntl", "Cannot read seals");
    return SEALS.filter((seal) => (r & sealBit(seal, c)) !== 0);
  }

  /** A new descriptor for the same open file, close-on-exec, owned by the result. */
  dup(): OwnedFd {
    const lib = libc();
    const fd = this.fd;
    if (lib.platform.os !== "darwin") {
      const r = lib.fcntl(fd, lib.platform.constants.F_DUPFD_CLOEXEC, 0);
      if (r < 0) throw systemError(-r, "fcntl", "Cannot duplicate descriptor");
      return new OwnedFd(r);
    }
    // Apple arm64 passes fcntl's variadic argument on the stack, where a
    // fixed-argument binding does not put it: dup, then FIOCLEX (no
    // argument). Not atomic: a concurrent fork can inherit the copy.
    const r = lib.dup(fd);
    if (r < 0) throw systemError(-r, "dup", "Cannot duplicate descriptor");
    const copy = new OwnedFd(r);
    const s = lib.ioctl(r, lib.platform.constants.FIOCLEX);
    if (s < 0) {
      copy.close();
      throw systemError(-s, "ioctl", "Cannot duplicate descriptor");
    }
    return copy;
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
    // Out of the reactor first, so a reused number never sees our waits.
    forget(fd, closedError);
    this.#fd = -1;
    const r = libc().close(fd);
    if (r < 0) closeFailed(r);
  }

  /** Closes the descriptor (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(action: string): number {
    if (this.#fd < 0) {
      throw new ClosedError(`Cannot ${action}: the descriptor is closed`);
    }
    return this.#fd;
  }

  /**
   * Counts one more stream; the returned function ends it (once), and the
   * last stream to end closes the descriptor.
   */
  #holdForStream(io: IoState): () => void {
    io.streams++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--io.streams === 0) this.close();
    };
  }

  /**
   * The first read or write of a descriptor of unknown kind: most that are
   * passed around are sockets, so the socket call goes first and its answer
   * gives the kind, saving the `fstat` (one syscall and a stat buffer per
   * received connection). `NOT_SOCKET` when the caller must find the kind.
   */
  #probe(
    lib: Libc,
    direction: Direction,
    fd: number,
    view: Uint8Array,
    length: number,
  ): number {
    const r = transfer(lib, UNKNOWN, direction, fd, view, length);
    if (r !== NOT_SOCKET) this.#kind = SOCKET;
    return r;
  }

  /** How this descriptor waits, found on first use. */
  #kindOf(fd: number, lib: Libc): number {
    if (this.#kind !== UNKNOWN) return this.#kind;
    let kind: number;
    const stat = new Uint8Array(new ArrayBuffer(lib.platform.stat.size));
    const r = lib.fstat(fd, stat);
    if (r >= 0) {
      const type = decodeStat(stat, lib.platform).type;
      kind = type === "socket"
        ? SOCKET
        : type === "file" || type === "block" || type === "directory"
        ? DIRECT
        : POLLABLE;
    } else if (-r === lib.platform.errno.ENOSYS) {
      // No fstat in this C library: a socket answers SO_TYPE, and poll
      // reports a regular file always ready, so POLLABLE still works there.
      const c = lib.platform.constants;
      const length = new Uint32Array([4]);
      const value = new Uint8Array(4);
      kind = lib.getsockopt(fd, c.SOL_SOCKET, c.SO_TYPE, value, length) >= 0
        ? SOCKET
        : POLLABLE;
    } else {
      throw systemError(-r, "fstat", "Cannot use the descriptor");
    }
    return this.#kind = kind;
  }

  /** The queue of one direction's operations that wait, made on first use. */
  #queue(direction: Direction): OperationQueue {
    const io = this.#io ??= new IoState();
    return direction === READ
      ? io.reads ??= new OperationQueue()
      : io.writes ??= new OperationQueue();
  }

  /**
   * Queues a read that has to wait, after the reads before it (see
   * {@linkcode OwnedFd.#writeQueued}); `tried` when read() found nothing
   * there a moment ago, so the first step is the wait.
   */
  #readQueued(
    buffer: Uint8Array,
    signal: AbortSignal | undefined,
    tried: boolean,
  ): Promise<number> {
    return this.#queue(READ).run(signal, async () => {
      for (let attempt = 0;; attempt++) {
        const fd = this.#checkOpen("read");
        if (!tried) {
          const r = this.#tryRead(fd, buffer);
          if (r >= 0) return r;
        }
        tried = false;
        const wait = waitReady(fd, READ, signal, attempt);
        if (wait !== undefined) await wait;
      }
    });
  }

  /** One read that cannot block: the bytes read, or -1 when nothing is there yet. */
  #tryRead(fd: number, buffer: Uint8Array): number {
    const lib = libc();
    // The buffer may have been detached or shrunk while we waited.
    const length = Math.min(checkedLength(buffer, "Cannot read"), MAX_IO);
    if (length > 0 && this.#kind === UNKNOWN) {
      const r = this.#probe(lib, READ, fd, buffer, length);
      if (r !== NOT_SOCKET) return r;
    }
    const kind = this.#kindOf(fd, lib);
    if (length === 0) return 0;
    const c = lib.platform.constants;
    // Readiness is rechecked right before the call: an epoll event may be
    // stale, and a read on a blocking pipe with nothing in it would block.
    if (kind === POLLABLE && !ready(lib, fd, c.POLLIN)) {
      noteTry(false);
      return -1;
    }
    return transfer(lib, kind, READ, fd, buffer, length);
  }

  /**
   * Queues a write that has to wait, after the writes before it. Not in
   * write() itself: there an `await` or a closure would allocate on every
   * call in JavaScriptCore, even when the write finishes at once.
   */
  #writeQueued(
    data: Uint8Array,
    total: number,
    signal: AbortSignal | undefined,
    written: number,
  ): Promise<number> {
    return this.#queue(WRITE).run(signal, async () => {
      let attempt = 0;
      while (written < total) {
        throwIfAborted(signal);
        const fd = this.#checkOpen("write");
        const r = this.#tryWrite(fd, data, written, total);
        if (r >= 0) {
          written += r;
          attempt = 0;
          continue;
        }
        const wait = waitReady(fd, WRITE, signal, attempt++);
        if (wait !== undefined) await wait;
      }
      return written;
    });
  }

  /** One write that cannot block: the bytes written, or -1 when there is no room yet. */
  #tryWrite(
    fd: number,
    data: Uint8Array,
    from: number,
    total: number,
  ): number {
    const lib = libc();
    if (checkedLength(data, "Cannot write") < total) {
      throw new TypeError("Cannot write: the buffer shrank while written");
    }
    let length = Math.min(total - from, MAX_IO);
    if (this.#kind === UNKNOWN) {
      const r = this.#probe(lib, WRITE, fd, rest(data, from, total), length);
      if (r !== NOT_SOCKET) return r;
    }
    const kind = this.#kindOf(fd, lib);
    const c = lib.platform.constants;
    if (kind === POLLABLE) {
      if (!ready(lib, fd, c.POLLOUT)) {
        noteTry(false);
        return -1;
      }
      // Why a chunk of at most PIPE_BUF bytes cannot block here: a pipe
      // reports POLLOUT only with room for at least PIPE_BUF bytes (Linux:
      // a free slot, which holds a page of at least 4096 bytes; macOS and
      // FreeBSD: PIPE_BUF bytes free), and a write of at most PIPE_BUF
      // bytes is atomic: it goes in whole, at once, into that room. Only
      // another writer filling the pipe between our poll and our write
      // could make it wait, for as long as the reader takes to drain one
      // chunk. A larger write could block with part of it written, holding
      // the event loop until the reader catches up.
      length = Math.min(length, c.PIPE_BUF);
    }
    return transfer(lib, kind, WRITE, fd, rest(data, from, total), length);
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
      // FIOCLEX takes no variadic argument, so Apple arm64 gets it right.
      const r = lib.ioctl(target, c.FIOCLEX);
      if (r < 0) {
        copy.close();
        throw systemError(-r, "ioctl", "Cannot duplicate descriptor");
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
