/**
 * {@linkcode Connection}: a connected stream socket of any family.
 *
 * @module
 */

import { OwnedFd } from "./owned_fd.ts";
import { libc, systemError } from "./_system.ts";
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
import {
  intOption,
  setNoSigpipe,
  shutdownConstant,
  type ShutdownHow,
} from "./unix_socket.ts";

let adoptConnection: (fd: number) => Connection;

/**
 * @internal Wraps a freshly accepted descriptor, which this process already
 * owns, without checking it again.
 */
export function connectionOf(fd: number): Connection {
  return adoptConnection(fd);
}

/**
 * A connected stream socket of any family (TCP over IPv4 or IPv6, or Unix),
 * as {@linkcode StreamListener.accept} returns it or as received from
 * another process. It is an {@linkcode OwnedFd}, so it reads, writes, closes
 * on `using` and can be passed on with `UnixSocket.send` like any
 * descriptor; it adds {@linkcode Connection.shutdown} and the two addresses.
 *
 * @example Serve a TCP connection on 127.0.0.1
 * ```ts
 * import { connectTcp, listenTcp } from "./mod.ts";
 *
 * using listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.localAddress() as { port: number };
 * using client = connectTcp({ hostname: "127.0.0.1", port });
 * using connection = await listener.accept();
 * console.log(connection.remoteAddress().address); // "127.0.0.1"
 * connection.writeSync(new TextEncoder().encode("hi"));
 * connection.shutdown("write");
 * const reply = new Uint8Array(8);
 * const n = client.readSync(reply);
 * console.log(new TextDecoder().decode(reply.subarray(0, n))); // "hi"
 * console.log(client.readSync(reply)); // 0: end of stream
 * ```
 */
export class Connection extends OwnedFd {
  static {
    adoptConnection = (fd) => new Connection(fd);
  }

  private constructor(fd: number) {
    super(fd);
  }

  /**
   * Adopts a connected (or not yet connected) stream socket: inherited, or
   * received from a peer as an {@linkcode OwnedFd}, whose ownership moves
   * to the new object. Nothing about the descriptor is changed (its
   * `O_NONBLOCK` flag is shared with every other copy and stays as it is).
   *
   * @throws {TypeError} for a listening socket, a datagram socket, or a
   * family other than Unix, IPv4 and IPv6; the descriptor stays open.
   * @throws {SystemError} `ENOTSOCK` or `EBADF` for what is not a socket.
   *
   * @example
   * ```ts
   * import { Connection, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const [mine, theirs] = socketPair();
   * a.sendSync(new Uint8Array([1]), [mine]);
   * mine.close(); // sending borrowed it; the received copy lives on
   * const { fds } = b.receiveSync(new Uint8Array(1));
   * using connection = Connection.fromFd(fds[0]!); // takes ownership
   * connection.writeSync(new TextEncoder().encode("x"));
   * console.log(theirs.receiveSync(new Uint8Array(1)).bytes); // 1
   * console.log(connection.localAddress()); // { family: "unix", address: "" }
   * for (const s of [a, b, theirs]) s.close();
   * ```
   */
  static fromFd(fd: number | OwnedFd): Connection {
    const action = "Cannot adopt connection";
    const number = checkedFdNumber(fd, action);
    checkStreamSocket(number, false, action);
    return new Connection(takeChecked(fd, number));
  }

  /**
   * Ends reading, writing or both (`shutdown(2)`, default `"both"`): after
   * `"write"` the peer reads end of stream. This acts on the connection
   * itself, so every process holding a copy sees it. The descriptor stays
   * open until {@linkcode Connection.close}.
   *
   * @throws {TypeError} for any other `how`.
   * @throws {SystemError} `ENOTCONN` when the socket is not connected.
   */
  shutdown(how: ShutdownHow = "both"): void {
    const lib = libc();
    const value = shutdownConstant(how, lib.platform);
    const r = lib.shutdown(this.fd, value);
    if (r < 0) throw systemError(-r, "shutdown", "Cannot shut down");
  }

  /** The address this end is bound to (`getsockname`). */
  localAddress(): SocketAddress {
    return readSocketAddress(
      libc(),
      this.fd,
      "getsockname",
      "Cannot read the local address",
    );
  }

  /**
   * The address of the peer (`getpeername`).
   *
   * @throws {SystemError} `ENOTCONN` when the socket is not connected.
   */
  remoteAddress(): SocketAddress {
    return readSocketAddress(
      libc(),
      this.fd,
      "getpeername",
      "Cannot read the remote address",
    );
  }

  /** Shows the number, or that it is closed. */
  override toString(): string {
    return this.closed ? "Connection(closed)" : `Connection(${this.fd})`;
  }
}

/** Options for {@linkcode connectTcp}. */
export interface ConnectTcpOptions {
  /** An IPv4 or IPv6 address literal (default `"127.0.0.1"`). */
  hostname?: string;
  /** The port to connect to. */
  port: number;
}

/**
 * Opens a TCP connection (close-on-exec, blocking) to an IP address literal.
 * It waits for the handshake, which on loopback is immediate; in Deno it
 * needs no `--allow-net`, like everything else in fdpass (`--allow-ffi` is
 * already full access).
 *
 * @throws {TypeError} for a hostname that is not an IP address literal.
 * @throws {RangeError} for a port outside 0..65535.
 * @throws {SystemError} `ECONNREFUSED`, `ETIMEDOUT`, ... from the kernel.
 *
 * @example
 * ```ts
 * import { connectTcp, listenTcp } from "./mod.ts";
 *
 * using listener = listenTcp();
 * const { port } = listener.localAddress() as { port: number };
 * using client = connectTcp({ port });
 * using server = listener.acceptSync();
 * client.writeSync(new TextEncoder().encode("ping"));
 * const buffer = new Uint8Array(4);
 * console.log(server.readSync(buffer)); // 4
 * ```
 */
export function connectTcp(options: ConnectTcpOptions): Connection {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot connect: options must be an object");
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port;
  const lib = libc();
  const c = lib.platform.constants;
  const e = lib.platform.errno;
  const inet = INET_LAYOUTS[lib.platform.os];
  const address = encodeSockaddrInet(hostname, port, lib.platform);
  const family = address.length === inet.sockaddrIn.size
    ? inet.AF_INET
    : inet.AF_INET6;
  const where = `Cannot connect to ${hostname}:${port}`;
  const r = lib.socket(family, c.SOCK_STREAM | c.SOCK_CLOEXEC, 0);
  if (r < 0) throw systemError(-r, "socket", where);
  const connection = adoptConnection(r);
  try {
    setNoSigpipe(lib, connection);
    const k = lib.connect(connection.fd, address.bytes, address.length);
    if (k < 0 && -k !== e.EINTR) throw systemError(-k, "connect", where);
    if (k < 0) {
      // Interrupted: the handshake goes on; wait for it and read its result.
      const pollfd = new Uint8Array(8);
      const view = new DataView(pollfd.buffer);
      view.setInt32(0, connection.fd, true);
      view.setInt16(4, c.POLLOUT, true);
      for (;;) {
        const p = lib.poll(pollfd, 1, -1);
        if (p >= 0) break;
        if (-p !== e.EINTR) throw systemError(-p, "poll", where);
      }
      const error = intOption(lib, connection.fd, c.SOL_SOCKET, c.SO_ERROR);
      if (error !== 0) {
        throw systemError(error < 0 ? -error : error, "connect", where);
      }
    }
  } catch (error) {
    connection.close();
    throw error;
  }
  return connection;
}
