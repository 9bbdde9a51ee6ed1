/**
 * {@linkcode UnixListener} and {@linkcode listen}.
 *
 * @module
 */

import { checkSignal } from "./_signal.ts";
import { ClosedError } from "./errors.ts";
import { acceptUntilClosed } from "./_accept.ts";
import { libc, systemError } from "./_system.ts";
import { OperationQueue } from "./_queue.ts";
import { forget, park } from "./_wait.ts";
import { OwnedFd, takeOwnership } from "./owned_fd.ts";
import { decodeSockaddrUn, encodeSockaddrUn } from "./platform/sockaddr.ts";
import { inspectAsString } from "./_inspect.ts";
import {
  cPath,
  fileAt,
  staleSocketFile,
  unlinkIfSame,
} from "./_socket_file.ts";
import {
  adoptSocket,
  createSocketFd,
  setNoSigpipe,
  type SocketKind,
  socketKindOf,
  socketType,
  type UnixSocket,
} from "./unix_socket.ts";

/** Options for {@linkcode UnixListener.accept}. */
export interface AcceptOptions {
  /** Aborting rejects the accept with the signal's reason. */
  signal?: AbortSignal;
}

/** Options for {@linkcode listen}. */
export interface ListenOptions {
  /** `"stream"` (default) or `"seqpacket"`. */
  kind?: SocketKind;
  /** Pending connections the kernel queues (default 128). */
  backlog?: number;
  /**
   * Permission bits of the socket file (default `0o600`: only this user may
   * connect). Set after `bind` and before `listen`, so no one can connect
   * while the file has the umask's looser mode. Ignored for abstract names,
   * which have no file (any process in the network namespace may connect:
   * check {@linkcode UnixSocket.peerCredentials}).
   */
  mode?: number;
  /**
   * Remove the socket file on {@linkcode UnixListener.close} (default
   * `true`). Only the file this `listen` created, and on Linux only while
   * the path still names it (same device and inode): a file someone put in
   * its place stays. macOS and FreeBSD cannot check and remove the path.
   */
  unlinkOnClose?: boolean;
  /**
   * Take the path over when it holds a stale socket (default `false`): a
   * socket file that refuses connections (`ECONNREFUSED`: nobody listens,
   * as after a crash) is removed and bound again. A live listener, a
   * regular file or anything else still fails with `EADDRINUSE`. The check
   * connects once (a live listener sees a connection that closes at once).
   * Linux only; elsewhere the option changes nothing.
   */
  replaceStale?: boolean;
}

/** The socket file a listener created, to remove on close. */
interface SocketFile {
  readonly path: Uint8Array;
  /** Its identity when bound, `undefined` where it cannot be read. */
  readonly identity: string | undefined;
}

let adoptListener: (
  fd: OwnedFd,
  kind: SocketKind,
  path: string,
  file: SocketFile | undefined,
  nonblocking: boolean,
) => UnixListener;

/**
 * A listening Unix socket. Waiting for a connection never holds a thread in
 * `accept`: a listener {@linkcode listen} made is nonblocking (Linux,
 * FreeBSD), and on any other one (macOS, or one adopted with
 * {@linkcode UnixListener.fromFd}) `accept` runs only after `poll` saw a
 * connection.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * const path = `\0fdpass-doc-listener-${Date.now()}-${Math.random()}`;
 * using listener = listen(path, { kind: "seqpacket" });
 * using client = connect(path, { kind: "seqpacket" });
 * using server = listener.acceptSync();
 * console.log(server.kind); // "seqpacket"
 * ```
 */
export class UnixListener implements Disposable, AsyncIterable<UnixSocket> {
  /** The socket type of accepted connections. */
  readonly kind: SocketKind;
  /** The path it listens on, as given to {@linkcode listen}. */
  readonly path: string;
  /** The kind fdpass reads (a getter defined over `kind` never runs). */
  #kind: SocketKind;
  #owned: OwnedFd;
  #accepts = new OperationQueue();
  #file: SocketFile | undefined;
  /** Made with `SOCK_NONBLOCK` here: `accept` may run without `poll` first. */
  #nonblocking: boolean;
  #pollfd: Uint8Array | undefined;

  static {
    adoptListener = (fd, kind, path, file, nonblocking) =>
      new UnixListener(fd, kind, path, file, nonblocking);
  }

  private constructor(
    fd: OwnedFd,
    kind: SocketKind,
    path: string,
    file: SocketFile | undefined,
    nonblocking: boolean,
  ) {
    this.#nonblocking = nonblocking;
    this.#owned = fd;
    this.kind = kind;
    this.#kind = kind;
    this.path = path;
    this.#file = file;
  }

  /**
   * Adopts a listening socket: inherited (systemd socket activation passes
   * them from fd 3, see `LISTEN_FDS`) or received from a peer as an
   * {@linkcode OwnedFd}, whose ownership moves to the new listener. Its
   * `O_NONBLOCK` flag is never changed (it belongs to the open file
   * description, which the process that passed it shares): `accept` runs
   * only after `poll` saw a connection, so it never blocks unless another
   * process takes that connection in between.
   *
   * @throws {SystemError} `ENOTSOCK` if `fd` is not a socket.
   * @throws {TypeError} for a datagram socket, or a socket that is not a
   * Unix socket (a TCP listener: use `StreamListener.fromFd`); the
   * descriptor stays open and owned by the caller.
   * @throws {RangeError} for a number past 2147483647, before any call.
   *
   * @example
   * ```ts
   * import { connect, listen, UnixListener } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-adopt-${Date.now()}-${Math.random()}`;
   * const original = listen(path);
   * using adopted = UnixListener.fromFd(original.release()); // one owner
   * using client = connect(path);
   * using server = adopted.acceptSync();
   * console.log(adopted.path === path, server.kind); // true stream
   * ```
   */
  static fromFd(fd: number | OwnedFd): UnixListener {
    const number = fd instanceof OwnedFd ? fd.fd : fd;
    const action = "Cannot adopt listener";
    const kind = socketKindOf(number, action);
    if (kind === "dgram") {
      throw new TypeError(`${action}: a datagram socket does not listen`);
    }
    const lib = libc();
    const owned = takeOwnership(fd);
    const bytes = new Uint8Array(lib.platform.sockaddrUn.size);
    const length = new Uint32Array([bytes.length]);
    const named = lib.getsockname(owned.fd, bytes, length);
    const path = named < 0
      ? ""
      : decodeSockaddrUn(bytes, length[0]!, lib.platform);
    return new UnixListener(owned, kind, path, undefined, false);
  }

  /**
   * The descriptor number (still owned by the listener).
   *
   * @throws {ClosedError} once closed.
   */
  get fd(): number {
    return this.#owned.fd;
  }

  /** Whether {@linkcode UnixListener.close} was called. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /**
   * Waits for the next connection and returns it as a blocking,
   * close-on-exec {@linkcode UnixSocket}.
   *
   * @throws {ClosedError} if the listener is closed.
   * @throws {SystemError} when the kernel refuses (`EMFILE`, ...).
   */
  acceptSync(): UnixSocket {
    const lib = libc();
    const c = lib.platform.constants;
    const { EINTR } = lib.platform.errno;
    const pollfd = new Uint8Array(8);
    const view = new DataView(pollfd.buffer);
    for (;;) {
      const accepted = this.#tryAccept();
      if (accepted !== undefined) return accepted;
      view.setInt32(0, this.#owned.fd, true);
      view.setInt16(4, c.POLLIN, true);
      view.setInt16(6, 0, true);
      const p = lib.poll(pollfd, 1, -1);
      if (p < 0 && -p !== EINTR) throw systemError(-p, "poll", "Cannot accept");
    }
  }

  /**
   * Waits for the next connection without blocking the event loop.
   * Concurrent calls are served in call order.
   *
   * @throws {ClosedError} if the listener is or gets closed.
   * @throws {SystemError} when the kernel refuses (`EMFILE`, ...).
   *
   * @example
   * ```ts
   * import { connect, listen } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-accept-${Date.now()}-${Math.random()}`;
   * using listener = listen(path);
   * const next = listener.accept();
   * using client = connect(path);
   * using server = await next;
   * console.log(server.kind); // "stream"
   * ```
   */
  async accept(options?: AcceptOptions): Promise<UnixSocket> {
    const signal = checkSignal(options?.signal, "Cannot accept");
    return await this.#accepts.run(signal, async () => {
      for (;;) {
        const accepted = this.#tryAccept();
        if (accepted !== undefined) return accepted;
        await park(this.#owned.fd, 0, signal);
      }
    });
  }

  /**
   * Yields each connection until the listener is closed.
   *
   * @example
   * ```ts
   * import { connect, listen } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-iterate-${Date.now()}-${Math.random()}`;
   * const listener = listen(path);
   * const clients = [connect(path), connect(path)];
   * let served = 0;
   * for await (const connection of listener) {
   *   connection.close();
   *   if (++served === 2) listener.close();
   * }
   * for (const c of clients) c.close();
   * console.log(served); // 2
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<UnixSocket> {
    return acceptUntilClosed(this);
  }

  /**
   * Stops listening; pending `accept` calls reject with a
   * {@linkcode ClosedError}. Removes the socket file `listen` created,
   * unless `unlinkOnClose: false` or the path now names another file; a
   * listener from {@linkcode UnixListener.fromFd} never removes one.
   *
   * @example The path is free again once the listener is closed
   * ```ts
   * import { listen } from "./mod.ts";
   *
   * const path = `/tmp/fdpass-doc-${Date.now()}-${Math.random()}.sock`;
   * listen(path).close();
   * listen(path).close(); // no EADDRINUSE: the first close removed the file
   * ```
   */
  close(): void {
    if (this.#owned.closed) return;
    forget(
      this.#owned.fd,
      () => new ClosedError("Cannot accept: the listener was closed"),
    );
    const file = this.#file;
    this.#file = undefined;
    if (file !== undefined) unlinkIfSame(libc(), file.path, file.identity);
    this.#owned.close();
  }

  /**
   * Gives up ownership and returns the descriptor number, still listening;
   * the caller must close it. Pending `accept` calls reject with a
   * {@linkcode ClosedError}, the listener reads as closed, and the socket
   * file is no longer removed on close: it belongs with the descriptor.
   *
   * @throws {ClosedError} once closed or released.
   *
   * @example Move a listener to a new owner
   * ```ts
   * import { connect, listen, UnixListener } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-release-${Date.now()}-${Math.random()}`;
   * const first = listen(path);
   * using second = UnixListener.fromFd(first.release());
   * console.log(first.closed); // true
   * using client = connect(path);
   * using server = second.acceptSync();
   * console.log(server.kind); // "stream"
   * ```
   */
  release(): number {
    const fd = this.#owned.fd;
    forget(
      fd,
      () => new ClosedError("Cannot accept: the listener was released"),
    );
    this.#file = undefined;
    return this.#owned.release();
  }

  /** A connection, `undefined` when none is pending (EAGAIN). */
  #tryAccept(): UnixSocket | undefined {
    const lib = libc();
    const c = lib.platform.constants;
    const { EINTR, EAGAIN, ECONNABORTED } = lib.platform.errno;
    for (;;) {
      if (this.#owned.closed) {
        throw new ClosedError("Cannot accept: the listener is closed");
      }
      if (!this.#nonblocking && !this.#pending()) return undefined;
      const r = lib.accept(this.#owned.fd, c.SOCK_CLOEXEC);
      if (r >= 0) {
        const fd = new OwnedFd(r);
        setNoSigpipe(lib, fd);
        return adoptSocket(fd, this.#kind);
      }
      if (-r === EAGAIN) return undefined;
      if (-r !== EINTR && -r !== ECONNABORTED) {
        throw systemError(-r, "accept", "Cannot accept");
      }
    }
  }

  /**
   * Whether `poll` sees a connection waiting: the check before `accept` on
   * a listener that may be blocking.
   */
  #pending(): boolean {
    const lib = libc();
    const pollfd = this.#pollfd ??= new Uint8Array(8);
    const view = new DataView(pollfd.buffer);
    for (;;) {
      view.setInt32(0, this.#owned.fd, true);
      view.setInt16(4, lib.platform.constants.POLLIN, true);
      view.setInt16(6, 0, true);
      const p = lib.poll(pollfd, 1, 0);
      if (p >= 0) return p > 0;
      if (-p !== lib.platform.errno.EINTR) {
        throw systemError(-p, "poll", "Cannot accept");
      }
    }
  }

  /** Closes the listener (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Shows kind, path and descriptor, such as
   * `UnixListener(stream, "/run/app.sock", fd 5)`.
   *
   * @example
   * ```ts
   * import { listen } from "./mod.ts";
   *
   * const listener = listen(`\0fdpass-doc-string-${Date.now()}`);
   * console.log(String(listener).startsWith("UnixListener(stream, ")); // true
   * listener.close();
   * console.log(String(listener).endsWith(", closed)")); // true
   * ```
   */
  toString(): string {
    const path = JSON.stringify(this.path);
    return this.closed
      ? `UnixListener(${this.#kind}, ${path}, closed)`
      : `UnixListener(${this.#kind}, ${path}, fd ${this.fd})`;
  }
}

inspectAsString(UnixListener.prototype);

/**
 * An integer option from 0 to `max`: `TypeError` if it is not a number,
 * `RangeError` if it is out of range, `fallback` when absent.
 */
function intOptionValue(
  value: unknown,
  fallback: number,
  name: string,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot listen: ${name} must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(
      `Cannot listen: ${name} must be an integer from 0 to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Listens for connections on `path` (`"\0name"`: a Linux abstract name).
 * The socket file gets mode `0o600` unless `options.mode` says otherwise,
 * and is removed by {@linkcode UnixListener.close} unless
 * `unlinkOnClose: false`. Fails with `EADDRINUSE` if the path exists; with
 * `replaceStale: true` a socket file nobody listens on is taken over.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * const path = `\0fdpass-doc-listen-${Date.now()}-${Math.random()}`;
 * using listener = listen(path);
 * using client = connect(path);
 * using server = listener.acceptSync();
 * client.sendSync(new TextEncoder().encode("hello"));
 * console.log(server.receiveSync(new Uint8Array(16)).bytes); // 5
 * ```
 */
export function listen(
  path: string,
  options: ListenOptions = {},
): UnixListener {
  const lib = libc();
  // Each option is read once and checked before the first syscall.
  const kind = options.kind ?? "stream";
  if (kind === "dgram") {
    throw new TypeError(
      'Cannot listen on a datagram socket: use bind(path, { kind: "dgram" })',
    );
  }
  socketType(kind, lib.platform);
  const backlog = intOptionValue(options.backlog, 128, "backlog", 0x7fff_ffff);
  const mode = intOptionValue(options.mode, 0o600, "mode", 0o7777);
  const unlinkOnClose = options.unlinkOnClose ?? true;
  const replaceStale = options.replaceStale ?? false;
  if (typeof unlinkOnClose !== "boolean" || typeof replaceStale !== "boolean") {
    throw new TypeError(
      "Cannot listen: unlinkOnClose and replaceStale must be booleans",
    );
  }
  const address = encodeSockaddrUn(path, lib.platform);
  const file = path.startsWith("\0") ? undefined : cPath(path);
  const fd = createSocketFd(kind, lib.platform.constants.SOCK_NONBLOCK);
  let r = lib.bind(fd.fd, address.bytes, address.length);
  if (
    r < 0 && -r === lib.platform.errno.EADDRINUSE && replaceStale &&
    file !== undefined
  ) {
    const stale = staleSocketFile(lib, file, address, kind);
    if (stale !== undefined && unlinkIfSame(lib, file, stale)) {
      r = lib.bind(fd.fd, address.bytes, address.length);
    }
  }
  if (r < 0) {
    fd.close();
    throw systemError(-r, "bind", `Cannot listen on ${JSON.stringify(path)}`);
  }
  // Recorded at once, so that close() removes this file and no other.
  let created: SocketFile | undefined;
  if (file !== undefined) {
    const seen = fileAt(lib, file);
    if (seen !== null) created = { path: file, identity: seen?.identity };
  }
  const fail = (errno: number, call: string): never => {
    if (created !== undefined) {
      unlinkIfSame(lib, created.path, created.identity);
    }
    fd.close();
    throw systemError(errno, call, `Cannot listen on ${JSON.stringify(path)}`);
  };
  if (file !== undefined) {
    // Nobody can connect before listen(), so the umask's mode never serves.
    r = lib.chmod(file, mode);
    if (r < 0) fail(-r, "chmod");
  }
  r = lib.listen(fd.fd, backlog);
  if (r < 0) fail(-r, "listen");
  return adoptListener(
    fd,
    kind,
    path,
    unlinkOnClose ? created : undefined,
    lib.platform.constants.SOCK_NONBLOCK !== 0,
  );
}
