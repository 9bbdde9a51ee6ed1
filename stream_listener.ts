/**
 * {@linkcode StreamListener} and {@linkcode listenTcp}: listening stream
 * sockets of any family (TCP over IPv4 or IPv6, Unix), created here,
 * inherited from a supervisor (systemd's `LISTEN_FDS`) or received from
 * another process.
 *
 * @module
 */

import { ClosedError } from "./errors.ts";
import { acceptUntilClosed } from "./_accept.ts";
import { libc, systemError } from "./_system.ts";
import { OperationQueue } from "./_queue.ts";
import { forget, waitReady } from "./_wait.ts";
import { checkSignal } from "./_signal.ts";
import { inspectAsString } from "./_inspect.ts";
import { OwnedFd } from "./owned_fd.ts";
import { type Connection, connectionOf } from "./connection.ts";
import {
  checkedFdNumber,
  checkStreamSocket,
  readSocketAddress,
  takeChecked,
} from "./_address.ts";
import {
  encodeSockaddrInet,
  INET_LAYOUTS,
  type SocketAddress,
} from "./platform/inet.ts";
import { setNoSigpipe } from "./unix_socket.ts";

/** Options for {@linkcode StreamListener.accept}. */
export interface StreamAcceptOptions {
  /** Aborting rejects the accept with the signal's reason. */
  signal?: AbortSignal;
}

/** Options for {@linkcode listenTcp}. */
export interface ListenTcpOptions {
  /**
   * An IPv4 or IPv6 address literal to bind (default `"127.0.0.1"`;
   * `"0.0.0.0"` or `"::"` for every interface). Names are not resolved.
   */
  hostname?: string;
  /** The port (default 0: the kernel picks a free one, see `localAddress()`). */
  port?: number;
  /** Pending connections the kernel queues (default 128). */
  backlog?: number;
  /**
   * `SO_REUSEADDR` (default `true`, as Node and Deno do): a restarted server
   * can bind the port while old connections linger in `TIME_WAIT`.
   */
  reuseAddress?: boolean;
}

const ACTION = "Cannot accept";

function signalOf(options: unknown, action: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${action}: options must be an object`);
  }
  return checkSignal((options as { signal?: unknown }).signal, action);
}

let adoptListener: (fd: number) => StreamListener;

/**
 * A listening stream socket of any family: TCP over IPv4 or IPv6, or Unix.
 * Accepted connections are {@linkcode Connection}s: {@linkcode OwnedFd}s
 * with `shutdown()` and their addresses, which may be served here or passed
 * on to another process.
 *
 * The listening descriptor's `O_NONBLOCK` flag is never changed: it belongs
 * to the open file description, which the process that passed the socket
 * (systemd, a supervisor, the previous generation of a server) shares. So
 * `accept` is only tried once `poll` reports a pending connection; if the
 * socket is blocking and another process takes that connection in between,
 * the `accept` waits for the next one. Hand a listener over rather than
 * accept from two processes at once (or share a nonblocking one, as
 * {@linkcode listenTcp} creates).
 *
 * @example Adopt a listener by its number and accept over TCP
 * ```ts
 * import { connectTcp, listenTcp, StreamListener } from "./mod.ts";
 *
 * const original = listenTcp({ hostname: "127.0.0.1" });
 * using listener = StreamListener.fromFd(original.release());
 * const address = listener.localAddress();
 * console.log(address.family); // "inet"
 * using client = connectTcp({ port: (address as { port: number }).port });
 * using connection = await listener.accept();
 * console.log(connection.localAddress().address); // "127.0.0.1"
 * ```
 */
export class StreamListener implements Disposable, AsyncIterable<Connection> {
  #owned: OwnedFd;
  #accepts = new OperationQueue();
  #pollfd = new Uint8Array(8);
  #pollView = new DataView(this.#pollfd.buffer);

  static {
    adoptListener = (fd) => new StreamListener(fd);
  }

  private constructor(fd: number) {
    this.#owned = new OwnedFd(fd);
  }

  /**
   * Adopts a listening `SOCK_STREAM` socket: inherited (systemd socket
   * activation passes them from fd 3, see {@linkcode listenFds}) or received
   * from a peer as an {@linkcode OwnedFd}, whose ownership moves to the new
   * listener. Nothing about the descriptor is changed.
   *
   * @throws {TypeError} for a socket that is not listening, not a stream, or
   * of a family other than Unix, IPv4 and IPv6; the descriptor stays open.
   * @throws {SystemError} `ENOTSOCK` for what is not a socket, `EBADF` for a
   * number that is not open; the descriptor stays as it was.
   *
   * @example
   * ```ts
   * import { listenTcp, socketPair, StreamListener } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using original = listenTcp();
   * a.sendSync(new Uint8Array([1]), [original]); // borrowed: still ours
   * const { fds } = b.receiveSync(new Uint8Array(1));
   * using listener = StreamListener.fromFd(fds[0]!); // takes ownership
   * const port = (listener.localAddress() as { port: number }).port;
   * console.log(port === (original.localAddress() as { port: number }).port); // true
   * a.close();
   * b.close();
   * ```
   */
  static fromFd(fd: number | OwnedFd): StreamListener {
    const action = "Cannot adopt listener";
    const number = checkedFdNumber(fd, action);
    checkStreamSocket(number, true, action);
    return new StreamListener(takeChecked(fd, number));
  }

  /**
   * The descriptor number (still owned by the listener).
   *
   * @throws {ClosedError} once closed or released.
   */
  get fd(): number {
    return this.#owned.fd;
  }

  /** Whether the listener was closed or released. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /**
   * The address it listens on: `{ family: "inet", address: "127.0.0.1",
   * port: 8080 }`, `{ family: "inet6", ... }` or `{ family: "unix",
   * address: "/run/app.sock" }`.
   *
   * @throws {ClosedError} once closed.
   */
  localAddress(): SocketAddress {
    return readSocketAddress(
      libc(),
      this.#owned.fd,
      "getsockname",
      "Cannot read the listening address",
    );
  }

  /**
   * Waits for the next connection, blocking the thread (and the event loop)
   * until one arrives.
   *
   * @throws {ClosedError} if the listener is closed.
   * @throws {SystemError} when the kernel refuses (`EMFILE`, ...).
   *
   * @example
   * ```ts
   * import { connectTcp, listenTcp } from "./mod.ts";
   *
   * using listener = listenTcp();
   * const { port } = listener.localAddress() as { port: number };
   * using client = connectTcp({ port });
   * using connection = listener.acceptSync();
   * console.log(connection.remoteAddress().family); // "inet"
   * ```
   */
  acceptSync(): Connection {
    const lib = libc();
    const { EINTR } = lib.platform.errno;
    for (;;) {
      const accepted = this.#tryAccept();
      if (accepted !== undefined) return accepted;
      const p = lib.poll(this.#pollfd, 1, -1);
      if (p < 0 && -p !== EINTR) throw systemError(-p, "poll", ACTION);
    }
  }

  /**
   * Waits for the next connection without blocking the event loop.
   * Concurrent calls are served in call order.
   *
   * @throws {TypeError} if `options` or `options.signal` has the wrong type.
   * @throws {ClosedError} if the listener is or gets closed or released.
   * @throws {SystemError} when the kernel refuses (`EMFILE`, ...).
   *
   * @example
   * ```ts
   * import { connectTcp, listenTcp } from "./mod.ts";
   *
   * using listener = listenTcp({ hostname: "::1" });
   * const { port } = listener.localAddress() as { port: number };
   * const next = listener.accept({ signal: AbortSignal.timeout(10_000) });
   * using client = connectTcp({ hostname: "::1", port });
   * using connection = await next;
   * console.log(connection.remoteAddress().address); // "::1"
   * ```
   */
  accept(options?: StreamAcceptOptions): Promise<Connection> {
    let signal: AbortSignal | undefined;
    try {
      signal = signalOf(options, ACTION);
      if (this.#owned.closed) {
        throw new ClosedError("Cannot accept: the listener is closed");
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#accepts.run(signal, async () => {
      for (let attempt = 0;; attempt++) {
        const accepted = this.#tryAccept();
        if (accepted !== undefined) return accepted;
        // A busy server's next client is often microseconds away: the
        // bounded spin of _wait.ts catches it without the reactor's thread
        // hop (handoff bench: 1.4x connections/s in Deno, 1.6x in Bun),
        // then an idle listener parks there and costs nothing.
        const wait = waitReady(this.#owned.fd, 0, signal, attempt);
        if (wait !== undefined) await wait;
      }
    });
  }

  /**
   * Yields each connection until the listener is closed.
   *
   * @example
   * ```ts
   * import { connectTcp, listenTcp } from "./mod.ts";
   *
   * const listener = listenTcp();
   * const { port } = listener.localAddress() as { port: number };
   * const clients = [connectTcp({ port }), connectTcp({ port })];
   * let served = 0;
   * for await (const connection of listener) {
   *   connection.close();
   *   if (++served === 2) listener.close();
   * }
   * for (const client of clients) client.close();
   * console.log(served); // 2
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Connection> {
    return acceptUntilClosed(this);
  }

  /**
   * Stops listening here: pending `accept` calls reject with a
   * {@linkcode ClosedError} (the descriptor leaves the reactor before it is
   * closed). Other processes holding the socket keep listening on it.
   * Calling it again is a no-op.
   */
  close(): void {
    if (this.#owned.closed) return;
    this.#forget("Cannot accept: the listener was closed");
    this.#owned.close();
  }

  /**
   * Gives up ownership and returns the number (for example to pass it to a
   * runtime's own API); pending `accept` calls reject with a
   * {@linkcode ClosedError}. The caller must close the number.
   *
   * @throws {ClosedError} once closed or released.
   */
  release(): number {
    const fd = this.#owned.fd;
    this.#forget("Cannot accept: the listener was released");
    this.#owned.release();
    return fd;
  }

  /** Closes the listener (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Shows the number, or that it is closed. */
  toString(): string {
    return this.#owned.closed
      ? "StreamListener(closed)"
      : `StreamListener(${this.#owned.fd})`;
  }

  #forget(message: string): void {
    forget(this.#owned.fd, () => new ClosedError(message));
  }

  /**
   * A connection, or `undefined` when none is pending. `accept` runs only
   * after `poll` saw one, so a blocking listener never blocks here unless
   * another process took that connection in between.
   */
  #tryAccept(): Connection | undefined {
    const lib = libc();
    const c = lib.platform.constants;
    const e = lib.platform.errno;
    for (;;) {
      if (this.#owned.closed) {
        throw new ClosedError("Cannot accept: the listener is closed");
      }
      const fd = this.#owned.fd;
      this.#pollView.setInt32(0, fd, true);
      this.#pollView.setInt16(4, c.POLLIN, true);
      this.#pollView.setInt16(6, 0, true);
      const p = lib.poll(this.#pollfd, 1, 0);
      if (p < 0) {
        if (-p === e.EINTR) continue;
        throw systemError(-p, "poll", ACTION);
      }
      if (p === 0) return undefined;
      // macOS has no accept4: setNoSigpipe sets close-on-exec right after.
      const r = lib.accept(fd, c.SOCK_CLOEXEC);
      if (r >= 0) {
        const connection = connectionOf(r);
        setNoSigpipe(lib, connection);
        return connection;
      }
      const errno = -r;
      if (errno === e.EAGAIN) return undefined;
      // Aborted connections, and (Linux) network errors already pending on
      // the new connection: accept(2) says to try again.
      if (
        errno === e.EINTR || errno === e.ECONNABORTED ||
        errno === e.ENETDOWN || errno === e.ENOPROTOOPT ||
        errno === e.EHOSTDOWN || errno === e.EHOSTUNREACH ||
        errno === e.EOPNOTSUPP || errno === e.ENETUNREACH
      ) {
        continue;
      }
      throw systemError(errno, "accept", ACTION);
    }
  }
}

inspectAsString(StreamListener.prototype);

/**
 * Listens for TCP connections on an IP address literal (default
 * `127.0.0.1`, any free port): close-on-exec, `SO_REUSEADDR`, and
 * nonblocking, so that any process it is passed to can never block in
 * `accept`. Hand it to another process with `UnixSocket.send`; there,
 * {@linkcode StreamListener.fromFd} adopts it.
 *
 * @throws {TypeError} for a hostname that is not an IP address literal.
 * @throws {RangeError} for a port outside 0..65535 or a bad backlog.
 * @throws {SystemError} `EADDRINUSE`, `EACCES`, ... from the kernel.
 *
 * @example
 * ```ts
 * import { listenTcp } from "./mod.ts";
 *
 * using listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
 * const address = listener.localAddress();
 * console.log(address.family, address.address); // inet 127.0.0.1
 * ```
 */
export function listenTcp(options: ListenTcpOptions = {}): StreamListener {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot listen: options must be an object");
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const backlog = options.backlog ?? 128;
  const reuseAddress = options.reuseAddress ?? true;
  if (typeof hostname !== "string") {
    throw new TypeError("Cannot listen: hostname must be a string");
  }
  if (!Number.isInteger(backlog) || backlog < 0 || backlog > 0x7fff_ffff) {
    throw new RangeError(
      "Cannot listen: backlog must be an integer from 0 to 2^31-1",
    );
  }
  if (typeof reuseAddress !== "boolean") {
    throw new TypeError("Cannot listen: reuseAddress must be a boolean");
  }
  const lib = libc();
  const c = lib.platform.constants;
  const inet = INET_LAYOUTS[lib.platform.os];
  const address = encodeSockaddrInet(hostname, port, lib.platform);
  const family = address.length === inet.sockaddrIn.size
    ? inet.AF_INET
    : inet.AF_INET6;
  const where = `Cannot listen on ${hostname}:${port}`;
  const r = lib.socket(
    family,
    c.SOCK_STREAM | c.SOCK_CLOEXEC | c.SOCK_NONBLOCK,
    0,
  );
  if (r < 0) throw systemError(-r, "socket", where);
  const fd = new OwnedFd(r);
  try {
    // macOS has no SOCK_NONBLOCK, and fcntl(F_SETFL) would pass its
    // variadic argument where Apple arm64 does not look: the socket stays
    // blocking there, which is safe, since accept runs only after poll.
    // No SOCK_CLOEXEC there either: close-on-exec right after.
    setNoSigpipe(lib, fd);
    if (reuseAddress) {
      const one = new Uint8Array(new Int32Array([1]).buffer);
      const s = lib.setsockopt(fd.fd, c.SOL_SOCKET, inet.SO_REUSEADDR, one, 4);
      if (s < 0) throw systemError(-s, "setsockopt", where);
    }
    const b = lib.bind(fd.fd, address.bytes, address.length);
    if (b < 0) throw systemError(-b, "bind", where);
    const l = lib.listen(fd.fd, backlog);
    if (l < 0) throw systemError(-l, "listen", where);
  } catch (error) {
    fd.close();
    throw error;
  }
  return adoptListener(fd.release());
}
