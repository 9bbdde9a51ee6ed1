/**
 * {@linkcode UnixListener} and {@linkcode listen}.
 *
 * @module
 */

import { ClosedError } from "./errors.ts";
import { libc, systemError } from "./_system.ts";
import { OperationQueue } from "./_queue.ts";
import { forget, park } from "./_wait.ts";
import { OwnedFd, takeOwnership } from "./owned_fd.ts";
import { decodeSockaddrUn, encodeSockaddrUn } from "./platform/sockaddr.ts";
import {
  adoptSocket,
  createSocketFd,
  setNoSigpipe,
  type SocketKind,
  socketKindOf,
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
}

let adoptListener: (
  fd: OwnedFd,
  kind: SocketKind,
  path: string,
) => UnixListener;

/**
 * A listening Unix socket. The descriptor is nonblocking underneath, so that
 * waiting for a connection never holds a thread in `accept`.
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
  #owned: OwnedFd;
  #accepts = new OperationQueue();

  static {
    adoptListener = (fd, kind, path) => new UnixListener(fd, kind, path);
  }

  private constructor(fd: OwnedFd, kind: SocketKind, path: string) {
    this.#owned = fd;
    this.kind = kind;
    this.path = path;
  }

  /**
   * Adopts a listening socket: inherited (systemd socket activation passes
   * them from fd 3, see `LISTEN_FDS`) or received from a peer as an
   * {@linkcode OwnedFd}, whose ownership moves to the new listener. The
   * descriptor is made nonblocking (which the process that shares it will
   * see too) so that waiting never holds a thread in `accept`.
   *
   * @throws {SystemError} `ENOTSOCK` if `fd` is not a socket.
   * @throws {TypeError} for a datagram or non-Unix socket type.
   *
   * @example
   * ```ts
   * import { connect, listen, UnixListener } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-adopt-${Date.now()}-${Math.random()}`;
   * const original = listen(path);
   * using adopted = UnixListener.fromFd(original.fd); // hand the number over
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
    const c = lib.platform.constants;
    const flags = lib.fcntl(number, c.F_GETFL, 0);
    if (flags < 0) throw systemError(-flags, "fcntl", action);
    const r = lib.fcntl(number, c.F_SETFL, flags | c.O_NONBLOCK);
    if (r < 0) throw systemError(-r, "fcntl", action);
    const owned = takeOwnership(fd);
    const bytes = new Uint8Array(lib.platform.sockaddrUn.size);
    const length = new Uint32Array([bytes.length]);
    const named = lib.getsockname(owned.fd, bytes, length);
    const path = named < 0
      ? ""
      : decodeSockaddrUn(bytes, length[0]!, lib.platform);
    return new UnixListener(owned, kind, path);
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
  async accept(options: AcceptOptions = {}): Promise<UnixSocket> {
    const signal = options.signal;
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
  async *[Symbol.asyncIterator](): AsyncIterator<UnixSocket> {
    for (;;) {
      if (this.closed) return;
      let connection: UnixSocket;
      try {
        connection = await this.accept();
      } catch (error) {
        if (error instanceof ClosedError) return;
        throw error;
      }
      yield connection;
    }
  }

  /**
   * Stops listening; pending `accept` calls reject with a
   * {@linkcode ClosedError}. The socket file stays on disk; remove it if you
   * own the path.
   */
  close(): void {
    if (this.#owned.closed) return;
    forget(
      this.#owned.fd,
      new ClosedError("Cannot accept: the listener was closed"),
    );
    this.#owned.close();
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
      const r = lib.accept(this.#owned.fd, c.SOCK_CLOEXEC);
      if (r >= 0) {
        const fd = new OwnedFd(r);
        setNoSigpipe(lib, fd);
        return adoptSocket(fd, this.kind);
      }
      if (-r === EAGAIN) return undefined;
      if (-r !== EINTR && -r !== ECONNABORTED) {
        throw systemError(-r, "accept", "Cannot accept");
      }
    }
  }

  /** Closes the listener (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Listens for connections on `path` (`"\0name"`: a Linux abstract name).
 * The socket file gets mode `0o600` unless `options.mode` says otherwise.
 * Fails with `EADDRINUSE` if the path exists: fdpass never removes a file
 * (not even a stale socket: remove it yourself when you know it is yours).
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
  const kind = options.kind ?? "stream";
  if (kind === "dgram") {
    throw new TypeError(
      'Cannot listen on a datagram socket: use bind(path, { kind: "dgram" })',
    );
  }
  const backlog = options.backlog ?? 128;
  if (!Number.isInteger(backlog) || backlog < 0) {
    throw new RangeError(
      `Cannot listen: backlog must be a non-negative integer`,
    );
  }
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(
      `Cannot listen: mode must be permission bits (0 to 0o7777), got ${mode}`,
    );
  }
  const address = encodeSockaddrUn(path, lib.platform);
  const fd = createSocketFd(kind, lib.platform.constants.SOCK_NONBLOCK);
  let r = lib.bind(fd.fd, address.bytes, address.length);
  if (r < 0) {
    fd.close();
    throw systemError(-r, "bind", `Cannot listen on ${JSON.stringify(path)}`);
  }
  if (!path.startsWith("\0")) {
    // Nobody can connect before listen(), so the umask's mode never serves.
    r = lib.chmod(new TextEncoder().encode(`${path}\0`), mode);
    if (r < 0) {
      fd.close();
      throw systemError(
        -r,
        "chmod",
        `Cannot listen on ${JSON.stringify(path)}`,
      );
    }
  }
  r = lib.listen(fd.fd, backlog);
  if (r < 0) {
    fd.close();
    throw systemError(-r, "listen", `Cannot listen on ${JSON.stringify(path)}`);
  }
  return adoptListener(fd, kind, path);
}
