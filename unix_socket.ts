/**
 * {@linkcode UnixSocket}: a connected (or bound datagram) Unix domain socket
 * that sends and receives file descriptors.
 *
 * @module
 */

import { ClosedError, ControlMessageError } from "./errors.ts";
import { type Libc, libc, systemError } from "./_system.ts";
import {
  controlSpace,
  MAX_CALL_BYTES,
  MAX_IOVECS,
  Message,
} from "./_message.ts";
import { OperationQueue } from "./_queue.ts";
import { forget, maybeYield, noteTry, waitReady } from "./_wait.ts";
import { checkSignal, isAborted } from "./_signal.ts";
import { inspectAsString } from "./_inspect.ts";
import { OwnedFd, takeOwnership } from "./owned_fd.ts";
import {
  cmsgSpace,
  type Credentials,
  parseControl,
  type ParsedControl,
} from "./platform/cmsg.ts";
import {
  decodeSockaddrUn,
  encodeAutobind,
  type EncodedSockaddr,
  encodeSockaddrUn,
} from "./platform/sockaddr.ts";
import type { PlatformLayout } from "./platform/types.ts";
import { checkedLength } from "./platform/_views.ts";

/**
 * The most descriptors one message may carry: Linux's `SCM_MAX_FD`, which
 * macOS and FreeBSD (254) also accept.
 */
export const SCM_MAX_FD = 253;

/** A Unix socket type: `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET` (Linux, FreeBSD). */
export type SocketKind = "stream" | "dgram" | "seqpacket";

/**
 * A descriptor to send: a number, or an object that owns one through an `fd`
 * property ({@linkcode OwnedFd}, {@linkcode UnixSocket},
 * `UnixListener`). Sending borrows it: it stays open here.
 */
export type FdLike = number | { readonly fd: number };

/** Options for {@linkcode UnixSocket.sendSync}. */
export interface SendSyncOptions {
  /**
   * Fail with `EAGAIN` instead of blocking when the socket buffer is full
   * (`MSG_DONTWAIT`). On a stream socket this may send part of the data;
   * the return value says how much.
   */
  nonblocking?: boolean;
  /**
   * Where to send, on a datagram socket: a path, or `"\0name"` for a Linux
   * abstract name, such as the {@linkcode ReceiveResult.from} of a message
   * to answer. Overrides a connected socket's default destination on
   * Linux; macOS and FreeBSD refuse it on a connected socket (`EISCONN`,
   * as their sources read; not run here).
   * A `TypeError` on stream and seqpacket sockets, whose peer is fixed.
   * `undefined` sends to the connected peer.
   */
  to?: string | undefined;
}

/** Options for {@linkcode UnixSocket.receiveSync}. */
export interface ReceiveSyncOptions {
  /**
   * The most descriptors to accept in this message, 0 to 253 (default 253).
   * The control buffer is sized for exactly this many: if the peer sent more,
   * the kernel discards the excess, fdpass closes the rest and throws a
   * {@linkcode ControlMessageError}.
   */
  maxFds?: number;
  /** Fail with `EAGAIN` instead of blocking when nothing is queued (`MSG_DONTWAIT`). */
  nonblocking?: boolean;
}

/** Options for {@linkcode UnixSocket.send}. */
export interface SendOptions {
  /**
   * Aborting rejects the send with the signal's reason, unless bytes already
   * went out (then the descriptors went too, and the send completes).
   */
  signal?: AbortSignal;
  /** Where to send, on a datagram socket: as {@linkcode SendSyncOptions.to}. */
  to?: string | undefined;
}

/** Options for {@linkcode UnixSocket.receive}. */
export interface ReceiveOptions {
  /** As in {@linkcode ReceiveSyncOptions.maxFds}: 0 to 253, default 253. */
  maxFds?: number;
  /** Aborting rejects the receive with the signal's reason; nothing is consumed. */
  signal?: AbortSignal;
}

/** Options for {@linkcode UnixSocket.receiveFdSync}. */
export interface ReceiveFdSyncOptions {
  /** Fail with `EAGAIN` instead of blocking when nothing is queued. */
  nonblocking?: boolean;
}

/** Options for {@linkcode UnixSocket.receiveFd}. */
export interface ReceiveFdOptions {
  /** Aborting rejects the receive with the signal's reason; nothing is consumed. */
  signal?: AbortSignal;
}

/** What one receive delivered. */
export interface ReceiveResult {
  /** Data bytes written into the buffer(s). */
  bytes: number;
  /** The descriptors that came with them, each owned by the caller now. */
  fds: OwnedFd[];
  /** A datagram or seqpacket message was longer than the buffer; the rest is lost. */
  truncated: boolean;
  /**
   * End of stream: the peer closed or shut down writing. Set on stream and
   * seqpacket sockets when a receive into a non-empty buffer returns 0 bytes
   * with no descriptors. (A seqpacket peer can also send an empty message;
   * fdpass reads that as end of stream, as the kernel reports it the same
   * way.) Never set on datagram sockets, where an empty datagram is data.
   */
  eof: boolean;
  /**
   * The sender's pid, uid and gid as the kernel attached them, present only
   * after {@linkcode UnixSocket.receiveCredentials} (Linux `SO_PASSCRED`).
   */
  credentials?: Credentials;
  /**
   * Who sent a datagram: the sender's path, `"\0name"` (a Linux abstract
   * name, such as the one {@linkcode bind}`("")` or `connect(path, {
   * autobind: true })` gets), or `""` for an unnamed sender, which cannot
   * be answered. Pass it as `to` to reply. Present on every receive of a
   * datagram socket, absent on stream and seqpacket sockets, whose sender
   * is always the connected peer ({@linkcode UnixSocket.peerAddress}).
   */
  from?: string;
}

/** A connected peer's identity, from {@linkcode UnixSocket.peerCredentials}. */
export interface PeerCredentials {
  /** The peer's process ID (-1 where the platform does not report it). */
  readonly pid: number;
  /** The peer's effective user ID. */
  readonly uid: number;
  /** The peer's effective group ID. */
  readonly gid: number;
}

export type { Credentials };

/** Which direction(s) {@linkcode UnixSocket.shutdown} ends. */
export type ShutdownHow = "read" | "write" | "both";

/** @internal `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR` for `how`. */
export function shutdownConstant(
  how: ShutdownHow,
  platform: PlatformLayout,
): number {
  const c = platform.constants;
  switch (how) {
    case "read":
      return c.SHUT_RD;
    case "write":
      return c.SHUT_WR;
    case "both":
      return c.SHUT_RDWR;
    default:
      throw new TypeError(
        `Cannot shut down: how must be "read", "write" or "both", got ${
          String(how)
        }`,
      );
  }
}

const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];

/** @internal The socket type constant of `kind` on `platform`. */
export function socketType(kind: SocketKind, platform: PlatformLayout): number {
  const c = platform.constants;
  switch (kind) {
    case "stream":
      return c.SOCK_STREAM;
    case "dgram":
      return c.SOCK_DGRAM;
    case "seqpacket":
      return c.SOCK_SEQPACKET;
    default:
      throw new TypeError(
        `Cannot create socket: kind must be one of ${KINDS.join(", ")}, got ${
          String(kind)
        }`,
      );
  }
}

/**
 * Reads every descriptor of `fds` once, in order, into `out` (getters run
 * here, before the socket is checked or any call is made).
 */
function checkFds(fds: readonly FdLike[], out: number[]): void {
  if (!Array.isArray(fds)) notAnArray();
  const n = fds.length;
  if (n > SCM_MAX_FD) tooManyFds(n);
  // Set the length only when it changes: `length = 0` on every send is a
  // call into the engine (V8 does not inline it), ~2 % of a Deno sync pair.
  if (out.length !== n) out.length = n;
  for (let i = 0; i < n; i++) {
    const item = fds[i];
    const fd = typeof item === "number"
      ? item
      : typeof item === "object" && item !== null
      ? item.fd
      : item;
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fff_ffff) badFd(fd);
    out[i] = fd;
  }
}

/**
 * The `count` descriptors of a message's SCM_RIGHTS, owned (apart from
 * `#collect`, whose usual zero or one then stays small to inline).
 */
function adoptRights(message: Message, count: number): OwnedFd[] {
  // Sized once: pushing 253 grows the array five times.
  const fds = new Array<OwnedFd>(count);
  for (let i = 0; i < count; i++) fds[i] = new OwnedFd(message.rightsAt(i));
  return fds;
}

// The errors of the hot checks live apart, so that the checks stay small
// enough for the engine to inline into a send or receive.

function notAnArray(): never {
  throw new TypeError("Cannot send: fds must be an array");
}

function tooManyFds(n: number): never {
  throw new RangeError(
    `Cannot send ${n} file descriptors: at most ${SCM_MAX_FD} fit in one message`,
  );
}

function badFd(fd: unknown): never {
  throw new TypeError(
    `Cannot send file descriptor ${
      String(fd)
    }: expected a non-negative integer or an object with an fd (OwnedFd, UnixSocket)`,
  );
}

/**
 * Checks `data` (one `Uint8Array` or an array of them) and returns its real
 * total length. An array's buffers are copied into `out` (given exactly when
 * `data` is an array: the caller asked `Array.isArray` already) once, so the
 * caller's array (its getters, later changes) is read exactly once.
 */
function readData(
  data: Uint8Array | readonly Uint8Array[],
  out: Uint8Array[] | undefined,
  action: string,
): number {
  return out === undefined
    ? checkedLength(data, action)
    : readBuffers(data as readonly Uint8Array[], out, action);
}

/** {@linkcode readData} for an array of buffers, kept apart to keep the one-buffer path small. */
function readBuffers(
  data: readonly Uint8Array[],
  out: Uint8Array[],
  action: string,
): number {
  const n = data.length;
  if (n > MAX_IOVECS) tooManyBuffers(n, action);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const buffer = data[i];
    total += checkedLength(buffer, action);
    out.push(buffer as Uint8Array);
  }
  return total;
}

function tooManyBuffers(n: number, action: string): never {
  throw new RangeError(
    `${action}: cannot use ${n} buffers, at most ${MAX_IOVECS} per message`,
  );
}

function checkMaxFds(maxFds: unknown): number {
  if (maxFds === undefined) return SCM_MAX_FD;
  if (
    typeof maxFds !== "number" || !Number.isInteger(maxFds) || maxFds < 0 ||
    maxFds > SCM_MAX_FD
  ) badMaxFds(maxFds);
  return maxFds;
}

function badMaxFds(maxFds: unknown): never {
  if (typeof maxFds !== "number") {
    throw new TypeError(
      `Cannot receive: maxFds must be a number, got ${typeof maxFds}`,
    );
  }
  throw new RangeError(
    `Cannot receive: maxFds must be an integer from 0 to ${SCM_MAX_FD}, got ${maxFds}`,
  );
}

/** `value` as a boolean option: `undefined` is false, anything else not boolean a `TypeError`. */
function checkFlag(value: unknown, name: string, action: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") notBoolean(value, name, action);
  return value;
}

function notBoolean(value: unknown, name: string, action: string): never {
  throw new TypeError(
    `${action}: ${name} must be a boolean, got ${typeof value}`,
  );
}

function closed(action: string): never {
  throw new ClosedError(`Cannot ${action}: the socket is closed`);
}

/** `options` as an object to read options from (`undefined`/`null`: none). */
function optionsOf<T extends object>(
  options: T | undefined,
  action: string,
): T | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== "object" && typeof options !== "function") {
    notAnObject(action);
  }
  return options;
}

function notAnObject(action: string): never {
  throw new TypeError(`${action}: options must be an object`);
}

const NO_FDS: readonly FdLike[] = [];

/** One checked buffer, or a private copy of the caller's array of them. */
type Views = Uint8Array | readonly Uint8Array[];

/** What {@linkcode UnixSocket.sendFdSync} sends with the descriptor, as Ruby's send_io. */
const ONE_BYTE = new Uint8Array(1);

/** `options[key]`, once, after checking `options` is an object. */
function readOptions<T extends object, K extends keyof T>(
  options: T,
  key: K,
): T[K] {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Expected an options object");
  }
  return options[key];
}

/** The one descriptor a receiveFd delivered, or the error saying it did not come. */
function oneFd(result: ReceiveResult): OwnedFd {
  const fd = result.fds[0];
  if (fd !== undefined) return fd;
  throw new ControlMessageError(
    result.eof
      ? "Cannot receive a file descriptor: end of stream"
      : `Cannot receive a file descriptor: a message of ${result.bytes} ${
        result.bytes === 1 ? "byte" : "bytes"
      } came without one`,
    "ERR_FD_MISSING",
    result.bytes,
    0,
  );
}

const NO_DATA_ON_STREAM =
  "Cannot send file descriptors without data on a stream socket: the kernel would drop them; send at least one byte";

/**
 * What calls pending on a socket closed under them reject with, built only
 * when a call was pending: almost every close has none, and an Error's stack
 * costs microseconds (about 3 µs in Deno).
 */
const closedError = (): ClosedError =>
  new ClosedError("Cannot complete: the socket was closed");

/** Creates sockets for the other modules of fdpass without a public constructor. */
export let adoptSocket: (fd: OwnedFd, kind: SocketKind) => UnixSocket;

/**
 * A Unix domain socket that passes file descriptors: stream, datagram or
 * seqpacket. Created by {@linkcode socketPair}, {@linkcode connect},
 * {@linkcode bind}, `UnixListener.acceptSync()`, or
 * {@linkcode UnixSocket.fromFd} for an inherited or received socket.
 *
 * Sending borrows the caller's descriptors (the kernel takes its own
 * references; close yours when you mean to hand them over). Receiving
 * returns one {@linkcode OwnedFd} per descriptor, close-on-exec.
 *
 * | crosvm `ScmSocket`                       | fdpass                                   |
 * | ---------------------------------------- | ---------------------------------------- |
 * | `send_with_fd(s)(buf, fds)`              | `sendSync(buf, fds)`                     |
 * | `send_bufs_with_fds(bufs, fds)`          | `sendSync([buf1, buf2], fds)`            |
 * | `recv_with_fd(s)(buf, max)`              | `receiveSync(buf, { maxFds })`           |
 * | `recv_iovecs_with_fds(iovecs, max)`      | `receiveSync([buf1, buf2], { maxFds })`  |
 *
 * @example Send a descriptor with a message
 * ```ts
 * import { pipe, socketPair } from "./mod.ts";
 *
 * const [left, right] = socketPair("seqpacket");
 * const [readEnd, writeEnd] = pipe();
 * left.sendSync(new TextEncoder().encode("here"), [readEnd]);
 * const buffer = new Uint8Array(16);
 * const { bytes, fds } = right.receiveSync(buffer);
 * console.log(new TextDecoder().decode(buffer.subarray(0, bytes)), fds.length); // here 1
 * for (const fd of fds) fd.close();
 * for (const x of [left, right, readEnd, writeEnd]) x.close();
 * ```
 */
export class UnixSocket implements Disposable {
  /** The socket type. */
  readonly kind: SocketKind;
  /**
   * The kind, for fdpass's own use: `kind` is an ordinary property, and a
   * getter defined over it must never run between a check and a call.
   */
  #kind: SocketKind;
  #owned: OwnedFd;
  #libc: Libc;
  #send: Message | undefined;
  #receive: Message | undefined;
  #fds: number[] = [];
  /** Sync sends reading user input right now (a getter may send again). */
  #reading = 0;
  #parsed: ParsedControl & { pidfds: number[]; unknown: number } = {
    fds: [],
    credentials: null,
    malformed: false,
    pidfds: [],
    unknown: 0,
  };
  #constants: PlatformLayout["constants"];
  #sends = new OperationQueue();
  #receives = new OperationQueue();
  /** Control bytes offered for credentials (0 unless SO_PASSCRED is on). */
  #credentialSpace = 0;
  /** Control bytes offered for a pidfd (0 unless SO_PASSPIDFD was on at adoption). */
  #pidfdSpace = 0;
  #refuseFds = false;
  /**
   * The `maxFds` whose control space {@linkcode #controlSpace} computed
   * last (-1: none, or the settings above changed since), and that space.
   */
  #spaceFor = -1;
  #space = 0;
  /** The last async receive found nothing queued and had to wait. */
  #receiveWaited = false;
  /** The last `to` encoded: answering one peer again encodes nothing. */
  #toPath: string | undefined;
  #toAddress: EncodedSockaddr | undefined;
  /** The last sender's raw address and its decoding (see #sender). */
  #lastSender: Uint8Array | undefined;
  #lastSenderLength = 0;
  #lastSenderName = "";

  static {
    adoptSocket = (fd, kind) => new UnixSocket(fd, kind);
  }

  private constructor(fd: OwnedFd, kind: SocketKind) {
    this.#owned = fd;
    this.kind = kind;
    this.#kind = kind;
    this.#libc = libc();
    this.#constants = this.#libc.platform.constants;
  }

  /**
   * Adopts an open socket: a number (inherited, from systemd, ...) or an
   * {@linkcode OwnedFd} received from a peer, whose ownership moves to the
   * new object. The socket type is read from the kernel.
   *
   * @throws {SystemError} `ENOTSOCK` if `fd` is not a socket.
   * @throws {TypeError} if it is not a Unix socket (TCP, UDP: descriptors
   * sent over it would be dropped) or is of another type (such as raw); the
   * descriptor stays open and owned by the caller.
   * @throws {RangeError} for a number past 2147483647, before any call.
   *
   * @example
   * ```ts
   * import { socketPair, UnixSocket } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using adopted = UnixSocket.fromFd(b.release()); // `b` gives it up: one owner
   * console.log(adopted.kind, b.closed); // "stream" true
   * a.close();
   * ```
   */
  static fromFd(fd: number | OwnedFd): UnixSocket {
    const number = fd instanceof OwnedFd ? fd.fd : fd;
    const kind = socketKindOf(number, "Cannot adopt socket");
    const socket = new UnixSocket(takeOwnership(fd), kind);
    socket.#adoptCredentialSetting();
    return socket;
  }

  /**
   * The descriptor number (still owned by this socket).
   *
   * @throws {ClosedError} once closed.
   */
  get fd(): number {
    return this.#owned.fd;
  }

  /** Whether {@linkcode UnixSocket.close} was called. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /**
   * Sends `data` (one buffer, or several gathered into one message) with
   * `fds` attached. Blocks until everything is sent unless `nonblocking`.
   * On a stream socket the descriptors travel with the first byte only.
   * Returns the data bytes sent.
   *
   * On a datagram socket, `to` names the destination (see
   * {@linkcode SendSyncOptions.to}); answer a message at its
   * {@linkcode ReceiveResult.from}.
   *
   * @throws {RangeError} for more than 253 descriptors, descriptors with
   * no data on a stream socket (the kernel would drop them silently), or a
   * `to` longer than `sun_path`. Nothing is sent.
   * @throws {TypeError} for a descriptor that is not a non-negative integer,
   * or a `to` that is not a non-empty string, holds a NUL after its first
   * character or a lone surrogate, or is given on a stream or seqpacket
   * socket; for data that a getter of the caller's (an fd's, say) detached
   * or shrank after it was read. Nothing is sent.
   * @throws {SystemError} when the kernel refuses: `EPIPE` (peer gone),
   * `EBADF` (an fd is not open), `EAGAIN` (nonblocking and full),
   * `ECONNREFUSED` or `ENOENT` (nothing bound at `to`), `EPERM` (the socket
   * at `to` is connected to another), ...
   * @throws {ClosedError} if the socket is closed.
   *
   * @example Send to an address
   * ```ts
   * import { bind, socketPair } from "./mod.ts";
   *
   * const path = `\0fdpass-doc-to-${Date.now()}-${Math.random()}`;
   * using server = bind(path);
   * const [a, b] = socketPair("dgram");
   * a.sendSync(new Uint8Array([5]), [], { to: path }); // not to b
   * const { bytes, from } = server.receiveSync(new Uint8Array(1));
   * console.log(bytes, JSON.stringify(from)); // 1 "" (a is unnamed)
   * a.close();
   * b.close();
   * ```
   */
  sendSync(
    data: Uint8Array | readonly Uint8Array[],
    fds?: readonly FdLike[],
    options?: SendSyncOptions,
  ): number {
    const action = "Cannot send";
    // Every piece of user input (getters included) is read before the
    // socket is checked: a getter may close it and reuse its number.
    const numbers = this.#reading > 0 ? [] : this.#fds;
    const buffers = Array.isArray(data) ? [] as Uint8Array[] : undefined;
    let total: number;
    let nonblocking: boolean;
    let to: EncodedSockaddr | undefined;
    this.#reading++;
    try {
      // Options, then data, then descriptors: once their numbers are read,
      // no more of the caller's getters run (one could close a descriptor
      // and reuse its number).
      const o = optionsOf(options, action);
      nonblocking = checkFlag(o?.nonblocking, "nonblocking", action);
      to = this.#destination(o?.to, action);
      total = readData(data, buffers, action);
      checkFds(fds ?? NO_FDS, numbers);
    } finally {
      this.#reading--;
    }
    this.#checkSize(numbers.length, total);
    const socket = this.#checkOpen("send");
    const message = this.#sendMessage(
      buffers === undefined ? 1 : buffers.length,
    );
    // The lengths are read again: a getter that ran after the data was
    // checked (options, descriptors) may have detached or shrunk it, and the
    // kernel must never read past what the buffer still holds.
    const covered = buffers === undefined
      ? message.setIovecOf(data as Uint8Array, 0, total)
      : message.setIovecs(buffers, 0, total);
    if (covered < Math.min(total, MAX_CALL_BYTES)) {
      throw new TypeError(
        `${action}: the data was detached or shrank while the arguments were read; nothing was sent`,
      );
    }
    if (numbers.length > 0) message.setRights(numbers);
    else message.clearControl();
    if (to === undefined) message.clearName();
    else message.setName(to.bytes, to.length);
    const lib = this.#libc;
    const c = lib.platform.constants;
    const EINTR = lib.platform.errno.EINTR;
    const flags = c.MSG_NOSIGNAL | (nonblocking ? c.MSG_DONTWAIT : 0);
    let sent = 0;
    for (;;) {
      const r = lib.sendmsg(socket, message.msghdr, flags);
      if (r >= 0) {
        sent += r;
        // The descriptors went with the first byte; never send them twice.
        // (A blocking stream send of n > 0 bytes never returns 0.)
        if (
          sent >= total || this.#kind !== "stream" || nonblocking || r === 0
        ) break;
        message.clearControl();
        if (buffers === undefined) {
          message.setIovecOf(data as Uint8Array, sent, total - sent);
        } else message.setIovecs(buffers, sent, total - sent);
      } else if (-r !== EINTR) {
        // Part of a stream message went out before the buffer filled.
        if (sent > 0 && -r === lib.platform.errno.EAGAIN) break;
        throw systemError(-r, "sendmsg", "Cannot send");
      }
    }
    return sent;
  }

  /**
   * Receives one message into `buffer` (or scattered over several buffers)
   * with up to `maxFds` descriptors. Blocks until something arrives unless
   * `nonblocking`. Uses `MSG_CMSG_CLOEXEC`, so received descriptors are
   * close-on-exec.
   *
   * On a stream socket the kernel attaches descriptors to bytes, not to
   * messages: a read may return earlier bytes together with the descriptors.
   *
   * @throws {ControlMessageError} when more descriptors arrived than
   * `maxFds` (or than free slots): the delivered ones are closed first.
   * @throws {SystemError} when the kernel refuses (`EAGAIN` when nonblocking
   * and empty, `ECONNRESET`, ...).
   * @throws {ClosedError} if the socket is closed.
   */
  receiveSync(
    buffer: Uint8Array | readonly Uint8Array[],
    options?: ReceiveSyncOptions,
  ): ReceiveResult {
    const action = "Cannot receive";
    const o = optionsOf(options, action);
    const maxFds = checkMaxFds(o?.maxFds);
    const nonblocking = checkFlag(o?.nonblocking, "nonblocking", action);
    const buffers = Array.isArray(buffer) ? [] as Uint8Array[] : undefined;
    const length = readData(buffer, buffers, action);
    const socket = this.#checkOpen("receive");
    const message = this.#receiveMessage(
      buffers === undefined ? 1 : buffers.length,
    );
    const total = buffers === undefined
      ? message.setIovec(buffer as Uint8Array, length)
      : message.setIovecs(buffers, 0, length);
    const lib = this.#libc;
    const c = lib.platform.constants;
    const EINTR = lib.platform.errno.EINTR;
    const offered = this.#controlSpace(maxFds);
    const flags = c.MSG_CMSG_CLOEXEC | (nonblocking ? c.MSG_DONTWAIT : 0);
    let r: number;
    do {
      message.prepareReceive(offered);
      r = lib.recvmsg(socket, message.msghdr, flags);
    } while (r === -EINTR);
    if (r < 0) throw systemError(-r, "recvmsg", "Cannot receive");
    return this.#collect(message, r, total, offered, maxFds);
  }

  /**
   * Sends `data` with `fds` attached without blocking the event loop. On a
   * stream socket it resolves once every byte is written (waiting for the
   * peer to drain a full buffer); the descriptors travel with the first
   * chunk only. Sends on one socket run in call order. The descriptors are
   * borrowed: keep them open until the promise settles.
   *
   * @throws {RangeError} {@linkcode TypeError} as {@linkcode UnixSocket.sendSync}, before anything is sent.
   * @throws {SystemError} when the kernel refuses (`EPIPE`, `EBADF`, ...).
   * @throws {ClosedError} if the socket is or gets closed.
   *
   * @example
   * ```ts
   * import { pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const [r, w] = pipe();
   * const received = b.receive(new Uint8Array(8));
   * await a.send(new Uint8Array([1, 2]), [r]);
   * const { bytes, fds } = await received;
   * console.log(bytes, fds.length); // 2 1
   * for (const x of [...fds, a, b, r, w]) x.close();
   * ```
   */
  // deno-lint-ignore require-await -- async so that bad input rejects
  async send(
    data: Uint8Array | readonly Uint8Array[],
    fds?: readonly FdLike[],
    options?: SendOptions,
  ): Promise<number> {
    const action = "Cannot send";
    // As sendSync: every piece of user input (getters included) is read
    // before the socket is checked, into arrays no getter can reach.
    const numbers = this.#reading > 0 ? [] : this.#fds;
    const buffers = Array.isArray(data) ? [] as Uint8Array[] : undefined;
    let total: number;
    let signal: AbortSignal | undefined;
    let to: EncodedSockaddr | undefined;
    this.#reading++;
    try {
      // In sendSync's order: options, data, descriptors.
      const o = optionsOf(options, action);
      signal = checkSignal(o?.signal, action);
      to = this.#destination(o?.to, action);
      total = readData(data, buffers, action);
      // Not a default parameter: that would allocate an array a call.
      checkFds(fds === undefined ? NO_FDS : fds, numbers);
    } finally {
      this.#reading--;
    }
    this.#checkSize(numbers.length, total);
    // Before the socket is checked, as all user input: the engine's brand
    // check of a signal is the last thing that could run foreign code.
    const aborted = isAborted(signal);
    const socket = this.#checkOpen("send");
    const views = buffers ?? data as Uint8Array;
    let sent = 0;
    if (this.#sends.idle && !aborted) {
      // Nothing queued before it: try at once, without a promise turn.
      sent = Math.max(0, this.#trySend(socket, views, numbers, 0, total, to));
      if (sent >= total || (sent > 0 && this.#kind !== "stream")) return sent;
    }
    // The send waits: the next one must not overwrite its descriptors.
    const own = numbers === this.#fds ? numbers.slice() : numbers;
    return this.#sendQueued(views, own, total, sent, signal, to);
  }

  /**
   * Receives one message without blocking the event loop: resolves with the
   * data and descriptors as {@linkcode UnixSocket.receiveSync} does.
   * Receives on one socket run in call order.
   *
   * @throws {ControlMessageError} as {@linkcode UnixSocket.receiveSync}.
   * @throws {SystemError} when the kernel refuses (`ECONNRESET`, ...).
   * @throws {ClosedError} if the socket is or gets closed.
   *
   * @example Abort a receive that waits too long
   * ```ts
   * import { socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * try {
   *   await b.receive(new Uint8Array(8), { signal: AbortSignal.timeout(10) });
   * } catch (error) {
   *   console.log((error as Error).name); // TimeoutError
   * }
   * a.close();
   * b.close();
   * ```
   */
  // deno-lint-ignore require-await -- async so that bad input rejects
  async receive(
    buffer: Uint8Array | readonly Uint8Array[],
    options?: ReceiveOptions,
  ): Promise<ReceiveResult> {
    const action = "Cannot receive";
    const o = optionsOf(options, action);
    const maxFds = checkMaxFds(o?.maxFds);
    const signal = checkSignal(o?.signal, action);
    const buffers = Array.isArray(buffer) ? [] as Uint8Array[] : undefined;
    const total = readData(buffer, buffers, action);
    const aborted = isAborted(signal); // before the socket is checked (send())
    const socket = this.#checkOpen("receive");
    const views = buffers ?? buffer as Uint8Array;
    if (this.#receives.idle && !aborted) {
      // Nothing queued before it: try at once. If the last receive had to
      // wait, the peer is likely runnable on this CPU and about to answer:
      // let it run first rather than fail a recvmsg.
      // (A success after yielding keeps the habit; one without resets it.)
      const yielded = this.#receiveWaited;
      if (yielded) maybeYield();
      const result = this.#tryReceive(socket, views, maxFds, total);
      if (result !== undefined) {
        this.#receiveWaited = yielded;
        return result;
      }
      this.#receiveWaited = true;
    }
    return this.#receiveQueued(views, maxFds, total, signal);
  }

  /**
   * The identity of the process at the other end, as the kernel recorded it
   * when the connection was made (`connect`/`socketPair`): Linux
   * `SO_PEERCRED`, `LOCAL_PEERCRED` on macOS and FreeBSD. A broker checks it
   * before handing out descriptors. Not spoofable by the peer; it names the
   * process that connected, which may have passed the socket on since.
   *
   * @throws {SystemError} `ENOTCONN` on an unconnected datagram socket.
   * @throws {ClosedError} if the socket is closed.
   *
   * @example Check that the peer runs as the same user
   * ```ts
   * import { socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const peer = a.peerCredentials();
   * console.log(peer.pid > 0, peer.uid === b.peerCredentials().uid); // true true
   * a.close();
   * b.close();
   * ```
   */
  peerCredentials(): PeerCredentials {
    const socket = this.#checkOpen("read the peer's credentials");
    const lib = this.#libc;
    const layout = lib.platform.peerCredentials;
    const bytes = new Uint8Array(layout.size);
    const length = new Uint32Array([layout.size]);
    const view = new DataView(bytes.buffer);
    const r = lib.getsockopt(socket, layout.level, layout.name, bytes, length);
    if (r < 0) {
      throw systemError(-r, "getsockopt", "Cannot read the peer's credentials");
    }
    let pid = -1;
    if (layout.pid >= 0) {
      pid = view.getInt32(layout.pid, true);
    } else if (layout.pidOption !== 0) {
      const option = intOption(lib, socket, layout.level, layout.pidOption);
      if (option >= 0) pid = option;
    }
    return {
      pid,
      uid: view.getUint32(layout.uid, true),
      gid: view.getUint32(layout.gid, true),
    };
  }

  /**
   * Asks the kernel to attach the sender's pid, uid and gid to every message
   * this socket receives (Linux `SO_PASSCRED`); they come back as
   * {@linkcode ReceiveResult.credentials}. The control buffer grows by one
   * credentials message, so descriptors still arrive whole.
   *
   * @throws {TypeError} if `enabled` is not a boolean.
   * @throws {SystemError} `ENOPROTOOPT` where the platform has no
   * `SO_PASSCRED` (macOS, FreeBSD).
   * @throws {ClosedError} if the socket is closed.
   *
   * @example
   * ```ts
   * import { socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair("dgram");
   * b.receiveCredentials();
   * a.sendSync(new Uint8Array([1]));
   * const { credentials } = b.receiveSync(new Uint8Array(1));
   * console.log(credentials?.pid === a.peerCredentials().pid); // true
   * a.close();
   * b.close();
   * ```
   */
  receiveCredentials(enabled = true): void {
    checkFlag(enabled, "enabled", "Cannot receive credentials");
    const socket = this.#checkOpen("receive credentials");
    const lib = this.#libc;
    const c = lib.platform.constants;
    if (c.SO_PASSCRED === 0) {
      throw systemError(
        lib.platform.errno.ENOPROTOOPT,
        "setsockopt",
        "Cannot receive credentials",
      );
    }
    const value = new Uint8Array([enabled ? 1 : 0, 0, 0, 0]);
    const r = lib.setsockopt(socket, c.SOL_SOCKET, c.SO_PASSCRED, value, 4);
    if (r < 0) {
      throw systemError(-r, "setsockopt", "Cannot receive credentials");
    }
    this.#credentialSpace = enabled ? credentialsSpace(lib.platform) : 0;
    this.#spaceFor = -1;
  }

  /**
   * Makes this socket refuse file descriptors for good, for a peer that must
   * never hand you any. From then on every receive offers no room for
   * descriptors: the kernel discards any that arrive (they are never
   * installed here) and the receive throws a {@linkcode ControlMessageError}
   * with code `"ERR_FDS_REFUSED"` whose `bytes` says how much data came with
   * them. On Linux 6.16+ it also clears `SO_PASSRIGHTS`, so the sender's
   * `sendmsg` fails with `EPERM` and nothing is queued at all.
   *
   * @throws {ClosedError} if the socket is closed.
   *
   * @example
   * ```ts
   * import { ControlMessageError, pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair("dgram");
   * b.refuseFds();
   * const [r, w] = pipe();
   * try {
   *   a.sendSync(new Uint8Array([1]), [r]);
   *   b.receiveSync(new Uint8Array(1));
   * } catch (error) {
   *   // EPERM at the sender (Linux 6.16+), or ERR_FDS_REFUSED here
   *   console.log((error as { code: string }).code);
   * }
   * for (const x of [a, b, r, w]) x.close();
   * ```
   */
  refuseFds(): void {
    const socket = this.#checkOpen("refuse descriptors");
    const lib = this.#libc;
    const c = lib.platform.constants;
    this.#refuseFds = true;
    this.#spaceFor = -1;
    if (c.SO_PASSRIGHTS !== 0) {
      // Older kernels answer ENOPROTOOPT: the receive side still discards.
      const zero = new Uint8Array(4);
      lib.setsockopt(socket, c.SOL_SOCKET, c.SO_PASSRIGHTS, zero, 4);
    }
  }

  /**
   * Ends reading, writing or both (`shutdown(2)`); the peer then sees end of
   * stream. The descriptor stays open until {@linkcode UnixSocket.close}.
   */
  shutdown(how: ShutdownHow = "both"): void {
    const socket = this.#checkOpen("shut down");
    const value = shutdownConstant(how, this.#libc.platform);
    const r = this.#libc.shutdown(socket, value);
    if (r < 0) throw systemError(-r, "shutdown", "Cannot shut down");
  }

  /**
   * The address this socket is bound to: a path, `"\0name"` (Linux abstract)
   * or `""` when unnamed.
   */
  localAddress(): string {
    return this.#address("getsockname");
  }

  /** The address of the connected peer, `""` when it is unnamed. */
  peerAddress(): string {
    return this.#address("getpeername");
  }

  /**
   * Closes the socket. Pending `send`/`receive` calls reject with a
   * {@linkcode ClosedError}; the descriptor leaves the reactor before it is
   * closed. Calling it again is a no-op.
   */
  close(): void {
    if (this.#owned.closed) return;
    forget(this.#owned.fd, closedError);
    this.#owned.close();
  }

  /**
   * Gives up ownership and returns the descriptor number; the caller must
   * close it. Pending `send`/`receive` calls reject with a
   * {@linkcode ClosedError}, the descriptor leaves the reactor, and the
   * socket reads as closed.
   *
   * @throws {ClosedError} once closed or released.
   *
   * @example Hand the descriptor to a new owner
   * ```ts
   * import { socketPair, UnixSocket } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using moved = UnixSocket.fromFd(b.release());
   * console.log(b.closed); // true
   * a.sendSync(new Uint8Array([7]));
   * console.log(moved.receiveSync(new Uint8Array(1)).bytes); // 1
   * a.close();
   * ```
   */
  release(): number {
    const fd = this.#owned.fd;
    forget(
      fd,
      () => new ClosedError("Cannot complete: the socket was released"),
    );
    return this.#owned.release();
  }

  /**
   * Sends one descriptor with one byte (0), as Ruby's
   * `UNIXSocket#send_io` does, so that `recv_io` or
   * {@linkcode UnixSocket.receiveFd} on the other end takes it. The
   * descriptor is borrowed: close your copy when you are done with it.
   *
   * @throws {TypeError} or {@linkcode RangeError} for something that is not
   * a descriptor.
   * @throws {SystemError} when the kernel refuses (`EPIPE`, `EBADF`, ...).
   * @throws {ClosedError} if the socket is closed.
   *
   * @example One descriptor, no framing
   * ```ts
   * import { pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const [r, w] = pipe();
   * a.sendFdSync(w);
   * w.close();
   * using received = b.receiveFdSync();
   * received.writeSync(new Uint8Array([42]));
   * const byte = new Uint8Array(1);
   * r.readSync(byte);
   * console.log(byte[0]); // 42
   * for (const x of [a, b, r]) x.close();
   * ```
   */
  sendFdSync(fd: FdLike, options?: SendSyncOptions): void {
    this.sendSync(ONE_BYTE, [fd], options);
  }

  /**
   * {@linkcode UnixSocket.sendFdSync} without blocking the event loop.
   *
   * @example
   * ```ts
   * import { pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const [r, w] = pipe();
   * await a.sendFd(r);
   * r.close();
   * using received = await b.receiveFd();
   * console.log(received.fd > 2); // true
   * for (const x of [a, b, w]) x.close();
   * ```
   */
  async sendFd(fd: FdLike, options?: SendOptions): Promise<void> {
    await this.send(ONE_BYTE, [fd], options);
  }

  /**
   * Receives one descriptor sent with one byte, as by Ruby's
   * `UNIXSocket#send_io` or {@linkcode UnixSocket.sendFdSync}; the caller
   * owns it. On a stream socket exactly one byte is read; on a seqpacket or
   * datagram socket the rest of a longer message is discarded.
   *
   * @throws {ControlMessageError} `"ERR_FD_MISSING"` when a message or end
   * of stream came without a descriptor; `"ERR_CONTROL_TRUNCATED"` when
   * more than one came (all of them closed).
   * @throws {SystemError} when the kernel refuses (`EAGAIN` when
   * nonblocking and empty, ...).
   * @throws {ClosedError} if the socket is closed.
   *
   * @example
   * ```ts
   * import { pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair("seqpacket");
   * const [r, w] = pipe();
   * a.sendFdSync(r);
   * using received = b.receiveFdSync();
   * console.log(received.closed); // false
   * for (const x of [a, b, r, w]) x.close();
   * ```
   */
  receiveFdSync(options: ReceiveFdSyncOptions = {}): OwnedFd {
    const nonblocking = readOptions(options, "nonblocking");
    const buffer = new Uint8Array(1);
    return oneFd(
      this.receiveSync(
        buffer,
        nonblocking === undefined ? { maxFds: 1 } : { maxFds: 1, nonblocking },
      ),
    );
  }

  /**
   * {@linkcode UnixSocket.receiveFdSync} without blocking the event loop.
   *
   * @example
   * ```ts
   * import { pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const [r, w] = pipe();
   * const next = b.receiveFd();
   * a.sendFdSync(w);
   * using received = await next;
   * console.log(received.fd > 2); // true
   * for (const x of [a, b, r, w]) x.close();
   * ```
   */
  async receiveFd(options: ReceiveFdOptions = {}): Promise<OwnedFd> {
    const signal = readOptions(options, "signal");
    const buffer = new Uint8Array(1);
    return oneFd(
      await this.receive(
        buffer,
        signal === undefined ? { maxFds: 1 } : { maxFds: 1, signal },
      ),
    );
  }

  /** Closes the socket (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Shows kind and descriptor. */
  toString(): string {
    return this.closed
      ? `UnixSocket(${this.#kind}, closed)`
      : `UnixSocket(${this.#kind}, fd ${this.fd})`;
  }

  /** Refuses, before any call, what the kernel would drop or cut. */
  #checkSize(fdCount: number, total: number): void {
    if (
      this.#kind === "stream"
        ? fdCount > 0 && total === 0
        : total > MAX_CALL_BYTES
    ) this.#badSize(total);
  }

  #badSize(total: number): never {
    if (this.#kind === "stream") throw new RangeError(NO_DATA_ON_STREAM);
    throw new RangeError(
      `Cannot send a ${this.#kind} message of ${total} bytes: one message holds at most ${MAX_CALL_BYTES}`,
    );
  }

  #checkOpen(action: string): number {
    if (this.#owned.closed) closed(action);
    return this.#owned.fd;
  }

  /**
   * One nonblocking `sendmsg` of `buffers` from byte `sent` (descriptors only
   * with the first byte): the bytes it took, or -1 when the buffer is full.
   */
  #trySend(
    socket: number,
    buffers: Views,
    fds: readonly number[],
    sent: number,
    total: number,
    to: EncodedSockaddr | undefined,
  ): number {
    const lib = this.#libc;
    const many = Array.isArray(buffers);
    const message = this.#sendMessage(many ? buffers.length : 1);
    const remaining = total - sent;
    const covered = many
      ? message.setIovecs(buffers as readonly Uint8Array[], sent, remaining)
      : message.setIovecOf(buffers as Uint8Array, sent, remaining);
    if (covered < Math.min(remaining, MAX_CALL_BYTES)) {
      // Retrying would send nothing, forever: the caller's bytes are gone.
      throw new TypeError(
        `Cannot send: the data was detached or shrank while the send was pending (${sent} of ${total} bytes went out)`,
      );
    }
    if (sent === 0 && fds.length > 0) message.setRights(fds);
    else message.clearControl();
    // Set on every try: a sync send in between may have addressed another.
    if (to === undefined) message.clearName();
    else message.setName(to.bytes, to.length);
    const flags = this.#constants.MSG_NOSIGNAL | this.#constants.MSG_DONTWAIT;
    const { EINTR, EAGAIN } = lib.platform.errno;
    for (;;) {
      const r = lib.sendmsg(socket, message.msghdr, flags);
      if (r >= 0) {
        noteTry(true);
        return r;
      }
      if (-r === EAGAIN) {
        noteTry(false);
        return -1;
      }
      if (-r !== EINTR) throw systemError(-r, "sendmsg", "Cannot send");
    }
  }

  // send() and receive() have no `await` and create no closure: in
  // JavaScriptCore an async function with an `await` anywhere in it
  // allocates a generator, a scope and a function on every call, and a
  // closure's captured variables a scope at entry, even when the call
  // finishes at once, as almost every call does. The waiting is here.

  /** Queues a send that has to wait: after the sends before it, in order. */
  #sendQueued(
    buffers: Views,
    fds: readonly number[],
    total: number,
    sent: number,
    signal: AbortSignal | undefined,
    to: EncodedSockaddr | undefined,
  ): Promise<number> {
    return this.#sends.run(sent > 0 ? undefined : signal, async () => {
      let spins = 0;
      // Once bytes are out, the rest goes without abort: stopping would leave
      // the peer with a cut message.
      if (sent > 0) signal = undefined;
      for (;;) {
        const socket = this.#checkOpen("send");
        const r = this.#trySend(socket, buffers, fds, sent, total, to);
        if (r >= 0) {
          sent += r;
          if (sent >= total || this.#kind !== "stream") return sent;
          signal = undefined;
        } else {
          const wait = waitReady(socket, 1, signal, spins++);
          if (wait !== undefined) await wait;
        }
      }
    });
  }

  /** One nonblocking `recvmsg`: the message, or `undefined` when none is queued. */
  #tryReceive(
    socket: number,
    buffers: Views,
    maxFds: number,
    length: number,
  ): ReceiveResult | undefined {
    const lib = this.#libc;
    const flags = this.#constants.MSG_CMSG_CLOEXEC |
      this.#constants.MSG_DONTWAIT;
    const { EINTR, EAGAIN } = lib.platform.errno;
    const offered = this.#controlSpace(maxFds);
    const many = Array.isArray(buffers);
    const message = this.#receiveMessage(many ? buffers.length : 1);
    const total = many
      ? message.setIovecs(buffers as readonly Uint8Array[], 0, length)
      : message.setIovecOf(buffers as Uint8Array, 0, length);
    if (total < Math.min(length, MAX_CALL_BYTES)) {
      throw new TypeError(
        "Cannot receive: the buffer was detached or shrank while the receive was pending",
      );
    }
    for (;;) {
      message.prepareReceive(offered);
      const r = lib.recvmsg(socket, message.msghdr, flags);
      if (r >= 0) {
        noteTry(true);
        return this.#collect(message, r, total, offered, maxFds);
      }
      if (-r === EAGAIN) {
        noteTry(false);
        return undefined;
      }
      if (-r !== EINTR) throw systemError(-r, "recvmsg", "Cannot receive");
    }
  }

  /** Queues a receive that has to wait, as {@linkcode #sendQueued}. */
  #receiveQueued(
    buffers: Views,
    maxFds: number,
    total: number,
    signal: AbortSignal | undefined,
  ): Promise<ReceiveResult> {
    return this.#receives.run(signal, async () => {
      let spins = 0;
      for (;;) {
        const socket = this.#checkOpen("receive");
        const result = this.#tryReceive(socket, buffers, maxFds, total);
        if (result !== undefined) return result;
        const wait = waitReady(socket, 0, signal, spins++);
        if (wait !== undefined) await wait;
      }
    });
  }

  /**
   * Whoever made an adopted socket may have turned SO_PASSCRED on (systemd's
   * `PassCredentials=yes`): then every message carries credentials, and the
   * control buffer must make room for them or 253 fds no longer fit.
   */
  #adoptCredentialSetting(): void {
    const lib = this.#libc;
    const c = lib.platform.constants;
    const fd = this.#owned.fd;
    if (c.SO_PASSCRED !== 0) {
      const on = intOption(lib, fd, c.SOL_SOCKET, c.SO_PASSCRED);
      if (on > 0) this.#credentialSpace = credentialsSpace(lib.platform);
    }
    // SO_PASSPIDFD (Linux 6.5+) installs the sender's pidfd with every
    // message: make room for it so 253 descriptors still fit (fdpass closes
    // it on arrival). Older kernels answer ENOPROTOOPT.
    if (c.SO_PASSPIDFD !== 0) {
      const on = intOption(lib, fd, c.SOL_SOCKET, c.SO_PASSPIDFD);
      if (on > 0) this.#pidfdSpace = cmsgSpace(lib.platform.cmsghdr, 4);
    }
    this.#spaceFor = -1;
  }

  /**
   * Control bytes to offer a receive of up to `maxFds` descriptors. A loop
   * passes the same `maxFds` every time: the last answer is kept, which
   * leaves V8 room to inline more of the receive (~45 instructions a Deno
   * sync pair).
   */
  #controlSpace(maxFds: number): number {
    return maxFds === this.#spaceFor ? this.#space : this.#newSpace(maxFds);
  }

  #newSpace(maxFds: number): number {
    this.#space =
      (this.#refuseFds ? 0 : controlSpace(this.#libc.platform, maxFds)) +
      this.#credentialSpace + this.#pidfdSpace;
    this.#spaceFor = maxFds;
    return this.#space;
  }

  // Reusing the Message is small enough for V8 to inline into a send or a
  // receive, leaving more of its inlining budget for the rest (splitting
  // it off saved ~50 instructions a Deno sync pair); building one is apart.

  #sendMessage(iovecs: number): Message {
    const m = this.#send;
    return m !== undefined && m.fits(iovecs) ? m : this.#newSendMessage(iovecs);
  }

  #newSendMessage(iovecs: number): Message {
    return this.#send = new Message(this.#libc, Math.max(iovecs, 16));
  }

  #receiveMessage(iovecs: number): Message {
    const m = this.#receive;
    return m !== undefined && m.fits(iovecs)
      ? m
      : this.#newReceiveMessage(iovecs);
  }

  #newReceiveMessage(iovecs: number): Message {
    const message = new Message(this.#libc, Math.max(iovecs, 16));
    // Datagrams come from anyone: have the kernel say who sent each.
    if (this.#kind === "dgram") message.receiveNames();
    return this.#receive = message;
  }

  /**
   * `to` checked and encoded (before any call is made), or `undefined` to
   * send to the connected peer.
   */
  #destination(to: unknown, action: string): EncodedSockaddr | undefined {
    return to === undefined ? undefined : this.#encodeDestination(to, action);
  }

  #encodeDestination(to: unknown, action: string): EncodedSockaddr {
    if (typeof to !== "string") {
      throw new TypeError(
        `${action}: to must be a string (a path or "\\0name"), got ${typeof to}`,
      );
    }
    if (this.#kind !== "dgram") {
      throw new TypeError(
        `${action}: to names a destination on datagram sockets only; this ${this.#kind} socket sends to its connected peer`,
      );
    }
    if (to === this.#toPath) return this.#toAddress!;
    const address = encodeSockaddrUn(to, this.#libc.platform);
    this.#toPath = to;
    this.#toAddress = address;
    return address;
  }

  /**
   * The result of a recvmsg that returned `bytes`. The usual message (no
   * control data, or one well-formed SCM_RIGHTS within `maxFds`, nothing
   * truncated) is handled here, small enough for the engine to inline;
   * anything else goes to {@linkcode #collectControl}.
   */
  #collect(
    message: Message,
    bytes: number,
    total: number,
    offered: number,
    maxFds: number,
  ): ReceiveResult {
    const controlLength = message.receivedControlLength(offered);
    const count = controlLength > 0 ? message.singleRights(controlLength) : 0;
    const flags = message.receivedFlags();
    const c = this.#constants;
    if (
      count < 0 || count > maxFds || (flags & c.MSG_CTRUNC) !== 0 ||
      c.MSG_CMSG_CLOEXEC === 0
    ) return this.#collectControl(message, bytes, total, controlLength, maxFds);
    const fds = count === 0
      ? []
      : count === 1
      ? [new OwnedFd(message.rightsAt(0))]
      : adoptRights(message, count);
    return this.#result(message, bytes, fds, total, controlLength, flags);
  }

  /** The result of a message whose descriptors `fds` were accepted. */
  #result(
    message: Message,
    bytes: number,
    fds: OwnedFd[],
    total: number,
    controlLength: number,
    flags: number,
  ): ReceiveResult {
    // A stream read returns 0 bytes only at end of stream, even when Linux
    // attaches an empty credentials record to it (SO_PASSCRED); a seqpacket
    // peer may send an empty message, which then comes with credentials.
    const kind = this.#kind;
    const eof = bytes === 0 && fds.length === 0 && total > 0 &&
      (kind === "stream" || (kind === "seqpacket" && controlLength === 0));
    const truncated = (flags & this.#constants.MSG_TRUNC) !== 0;
    return kind === "dgram"
      ? { bytes, fds, truncated, eof, from: this.#sender(message) }
      : { bytes, fds, truncated, eof };
  }

  /**
   * {@linkcode #collect} for every other message: several control messages
   * (credentials, a pidfd, unknown ones), malformed or truncated control
   * data, more descriptors than `maxFds`, and macOS (no MSG_CMSG_CLOEXEC).
   */
  #collectControl(
    message: Message,
    bytes: number,
    total: number,
    controlLength: number,
    maxFds: number,
  ): ReceiveResult {
    const fds: OwnedFd[] = [];
    let malformed = false;
    let unknown = 0;
    let credentials: Credentials | null = null;
    if (controlLength > 0) {
      const count = message.singleRights(controlLength);
      if (count >= 0) {
        for (let i = 0; i < count; i++) {
          fds.push(new OwnedFd(message.rightsAt(i)));
        }
      } else {
        const parsed = this.#parsed;
        parsed.fds.length = 0;
        parsed.credentials = null;
        parsed.malformed = false;
        parsed.pidfds.length = 0;
        parsed.unknown = 0;
        parseControl(
          message.view,
          message.controlOffset,
          controlLength,
          message.layout,
          parsed,
        );
        for (const fd of parsed.fds) fds.push(new OwnedFd(fd));
        // The sender's pidfd (SO_PASSPIDFD, set by whoever made an adopted
        // socket): fdpass hands out only what was sent, so it is closed.
        for (const fd of parsed.pidfds) new OwnedFd(fd).close();
        malformed = parsed.malformed;
        unknown = parsed.unknown;
        credentials = parsed.credentials;
      }
    }
    const flags = message.receivedFlags();
    const c = this.#constants;
    if (unknown > 0) {
      for (const fd of fds) fd.close();
      throw new ControlMessageError(
        `Cannot receive: the message carried ${unknown} control message(s) fdpass does not know (an option such as SO_TIMESTAMP set on the socket elsewhere); the ${fds.length} file descriptor(s) that arrived were closed`,
        "ERR_CONTROL_UNKNOWN",
        bytes,
        fds.length,
      );
    }
    // macOS has no MSG_CMSG_CLOEXEC: set it now (a concurrent fork may
    // already have seen the descriptors).
    if (c.MSG_CMSG_CLOEXEC === 0) {
      for (const fd of fds) this.#libc.ioctl(fd.fd, c.FIOCLEX);
    }
    if ((flags & c.MSG_CTRUNC) !== 0 || malformed || fds.length > maxFds) {
      for (const fd of fds) fd.close();
      const truncated = !malformed;
      if (truncated && this.#refuseFds) {
        throw new ControlMessageError(
          "Cannot receive: the peer sent file descriptors to a socket that refuses them; the kernel discarded them",
          "ERR_FDS_REFUSED",
          bytes,
          fds.length,
        );
      }
      throw new ControlMessageError(
        truncated
          ? `Cannot receive file descriptors: the message carried more than fit (maxFds or free descriptor slots); the ${fds.length} that arrived ${
            fds.length === 1 ? "was" : "were"
          } closed`
          : `Cannot receive file descriptors: the control data was malformed; the ${fds.length} that arrived ${
            fds.length === 1 ? "was" : "were"
          } closed`,
        truncated ? "ERR_CONTROL_TRUNCATED" : "ERR_CONTROL_MALFORMED",
        bytes,
        fds.length,
      );
    }
    const result = this.#result(
      message,
      bytes,
      fds,
      total,
      controlLength,
      flags,
    );
    if (credentials !== null && !result.eof) result.credentials = credentials;
    return result;
  }

  /**
   * The sender's address recvmsg wrote into `message`'s name buffer. A
   * server hears from few peers many times: the last one is kept, so the
   * same sender again costs a byte comparison, not a decode.
   */
  #sender(message: Message): string {
    const length = message.receivedNameLength();
    if (length === 0) return "";
    const name = message.name;
    const last = this.#lastSender;
    if (last !== undefined && length === this.#lastSenderLength) {
      let i = 0;
      while (i < length && name[i] === last[i]) i++;
      if (i === length) return this.#lastSenderName;
    }
    const decoded = decodeSockaddrUn(name, length, message.layout);
    (this.#lastSender ??= new Uint8Array(name.length)).set(
      name.subarray(0, length),
    );
    this.#lastSenderLength = length;
    this.#lastSenderName = decoded;
    return decoded;
  }

  #address(call: "getsockname" | "getpeername"): string {
    const socket = this.#checkOpen("read the address");
    const layout = this.#libc.platform;
    const bytes = new Uint8Array(layout.sockaddrUn.size);
    const length = new Uint32Array([bytes.length]);
    const r = this.#libc[call](socket, bytes, length);
    if (r < 0) throw systemError(-r, call, "Cannot read the address");
    return decodeSockaddrUn(bytes, length[0]!, layout);
  }
}

inspectAsString(UnixSocket.prototype);

function newSocket(lib: Libc, kind: SocketKind, extraFlags: number): OwnedFd {
  const c = lib.platform.constants;
  const r = lib.socket(
    c.AF_UNIX,
    socketType(kind, lib.platform) | c.SOCK_CLOEXEC | extraFlags,
    0,
  );
  if (r < 0) throw systemError(-r, "socket", "Cannot create socket");
  const fd = new OwnedFd(r);
  setNoSigpipe(lib, fd);
  return fd;
}

/**
 * @internal An `int` socket option of `fd`: its value (never negative for
 * the options fdpass reads), or `-errno`.
 */
export function intOption(
  lib: Libc,
  fd: number,
  level: number,
  name: number,
): number {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  const bytes = new Uint8Array(value.buffer);
  const r = lib.getsockopt(fd, level, name, bytes, length);
  return r < 0 ? r : value[0]!;
}

/** `CMSG_SPACE` of one credentials message (`struct ucred`, 12 bytes). */
function credentialsSpace(platform: PlatformLayout): number {
  return cmsgSpace(platform.cmsghdr, 12);
}

/**
 * @internal The kind of the open Unix socket `fd`, read from the kernel.
 * The number is checked before any call (a non-integer is a `TypeError`,
 * one past `int` a `RangeError`), and a socket of another family (TCP, UDP,
 * ...) is a `TypeError`: the kernel would silently drop descriptors sent
 * over it. Nothing is closed on failure.
 */
export function socketKindOf(fd: number, action: string): SocketKind {
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0) {
    throw new TypeError(
      `${action}: expected a non-negative integer, got ${String(fd)}`,
    );
  }
  if (fd > 0x7fff_ffff) {
    throw new RangeError(
      `${action}: ${fd} is not a file descriptor (at most 2147483647)`,
    );
  }
  const lib = libc();
  const c = lib.platform.constants;
  const type = intOption(lib, fd, c.SOL_SOCKET, c.SO_TYPE);
  if (type < 0) throw systemError(-type, "getsockopt", action);
  const family = socketFamily(lib, fd, action);
  if (family !== c.AF_UNIX) {
    throw new TypeError(
      `${action}: fd ${fd} is not a Unix domain socket (address family ${family}), and descriptors sent over it would be dropped; adopt a TCP listener with StreamListener.fromFd or a connection with Connection.fromFd, or keep the descriptor as an OwnedFd`,
    );
  }
  const kind = type === c.SOCK_STREAM
    ? "stream"
    : type === c.SOCK_DGRAM
    ? "dgram"
    : type === c.SOCK_SEQPACKET
    ? "seqpacket"
    : null;
  if (kind === null) {
    throw new TypeError(`${action}: unsupported socket type ${type}`);
  }
  return kind;
}

/**
 * The address family of socket `fd`, from `getsockname` (works everywhere,
 * bound or not; Linux's `SO_DOMAIN` has no BSD twin on macOS).
 */
function socketFamily(lib: Libc, fd: number, action: string): number {
  const s = lib.platform.sockaddrUn;
  // Room for any family's address: the kernel cuts a longer one to fit.
  const bytes = new Uint8Array(128);
  const length = new Uint32Array([bytes.length]);
  const r = lib.getsockname(fd, bytes, length);
  if (r < 0) throw systemError(-r, "getsockname", action);
  return s.familySize === 2
    ? bytes[s.family]! | (bytes[s.family + 1]! << 8)
    : bytes[s.family]!;
}

/**
 * @internal macOS, on every new socket: it has no MSG_NOSIGNAL before 11, so
 * SO_NOSIGPIPE; no SOCK_CLOEXEC and no accept4, so close-on-exec right after
 * (a concurrent fork may see the descriptor first).
 */
export function setNoSigpipe(lib: Libc, fd: OwnedFd): void {
  const c = lib.platform.constants;
  if (lib.platform.os !== "darwin") return;
  if (c.SOCK_CLOEXEC === 0) lib.ioctl(fd.fd, c.FIOCLEX);
  if (c.SO_NOSIGPIPE === 0) return;
  const one = new Uint8Array([1, 0, 0, 0]);
  const r = lib.setsockopt(fd.fd, c.SOL_SOCKET, c.SO_NOSIGPIPE, one, 4);
  if (r < 0) {
    fd.close();
    throw systemError(-r, "setsockopt", "Cannot create socket");
  }
}

/** @internal Creates a socket of `kind` (close-on-exec) for other modules. */
export function createSocketFd(kind: SocketKind, extraFlags: number): OwnedFd {
  return newSocket(libc(), kind, extraFlags);
}

/**
 * Creates a pair of connected sockets (`socketpair(2)`), close-on-exec.
 *
 * @example
 * ```ts
 * import { socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair("dgram");
 * a.sendSync(new Uint8Array([7]));
 * const buffer = new Uint8Array(1);
 * console.log(b.receiveSync(buffer).bytes, buffer[0]); // 1 7
 * a.close();
 * b.close();
 * ```
 */
export function socketPair(
  kind: SocketKind = "stream",
): [UnixSocket, UnixSocket] {
  const lib = libc();
  const c = lib.platform.constants;
  const type = socketType(kind, lib.platform);
  const fds = new Int32Array(2);
  const r = lib.socketpair(c.AF_UNIX, type | c.SOCK_CLOEXEC, 0, fds);
  if (r < 0) throw systemError(-r, "socketpair", "Cannot create socket pair");
  const a = new OwnedFd(fds[0]!);
  const b = new OwnedFd(fds[1]!);
  try {
    setNoSigpipe(lib, a);
    setNoSigpipe(lib, b);
  } catch (error) {
    a.close();
    b.close();
    throw error;
  }
  return [adoptSocket(a, kind), adoptSocket(b, kind)];
}

/** Options for {@linkcode bind}. */
export interface BindOptions {
  /** Socket type (default `"dgram"` for {@linkcode bind}, `"stream"` for {@linkcode connect}). */
  kind?: SocketKind;
}

/** Options for {@linkcode connect}. */
export interface ConnectOptions extends BindOptions {
  /**
   * Bind the new socket to an address of its own
   * first (Linux autobind, an abstract `"\0"` and five hex digits), so that
   * a datagram server can answer to its {@linkcode ReceiveResult.from}.
   * A `TypeError` on macOS and FreeBSD, which have no autobind: there,
   * {@linkcode bind} the client to a path of its own and send with `to`.
   */
  autobind?: boolean;
}

/**
 * Connects to the Unix socket at `path` (`"\0name"`: a Linux abstract name).
 * For `"dgram"`, sets the default destination.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * const path = `/tmp/fdpass-doc-${Date.now()}-${Math.random()}.sock`.replace("/tmp/", "\0");
 * using listener = listen(path);
 * using client = connect(path);
 * using server = listener.acceptSync();
 * client.sendSync(new Uint8Array([1, 2, 3]));
 * console.log(server.receiveSync(new Uint8Array(8)).bytes); // 3
 * ```
 *
 * @example A datagram client the server can answer (Linux autobind)
 * ```ts
 * import { bind, connect } from "./mod.ts";
 *
 * const path = `\0fdpass-doc-autobind-${Date.now()}-${Math.random()}`;
 * using server = bind(path);
 * using client = connect(path, { kind: "dgram", autobind: true });
 * client.sendSync(new Uint8Array([1]));
 * const { from } = server.receiveSync(new Uint8Array(1));
 * console.log(from === client.localAddress()); // true
 * server.sendSync(new Uint8Array([2]), [], { to: from });
 * console.log(client.receiveSync(new Uint8Array(1)).bytes); // 1
 * ```
 */
export function connect(
  path: string,
  options: ConnectOptions = {},
): UnixSocket {
  const lib = libc();
  const kind = options.kind ?? "stream";
  const autobind = checkFlag(
    options.autobind,
    "autobind",
    `Cannot connect to ${JSON.stringify(path)}`,
  );
  const address = encodeSockaddrUn(path, lib.platform);
  const own = autobind ? encodeAutobind(lib.platform) : undefined;
  const fd = newSocket(lib, kind, 0);
  if (own !== undefined) {
    const r = lib.bind(fd.fd, own.bytes, own.length);
    if (r < 0) {
      fd.close();
      throw systemError(-r, "bind", "Cannot autobind");
    }
  }
  const { EINTR, EISCONN } = lib.platform.errno;
  for (let first = true;; first = false) {
    const r = lib.connect(fd.fd, address.bytes, address.length);
    if (r >= 0 || (!first && -r === EISCONN)) break;
    if (-r === EINTR) continue;
    fd.close();
    throw systemError(
      -r,
      "connect",
      `Cannot connect to ${JSON.stringify(path)}`,
    );
  }
  return adoptSocket(fd, kind);
}

/**
 * Creates a socket bound to `path`, for receiving datagrams (default kind
 * `"dgram"`). The socket file stays until you remove it.
 *
 * An empty `path` autobinds (Linux): the socket gets a unique abstract name,
 * `"\0"` and five hex digits, and can send to any bound socket with `to`
 * and be answered at its {@linkcode ReceiveResult.from}. macOS and FreeBSD
 * have no autobind (`TypeError`): bind to a path of your own there; an
 * unbound sender's `from` is `""`.
 *
 * @example
 * ```ts
 * import { bind, connect } from "./mod.ts";
 *
 * const path = `\0fdpass-doc-bind-${Date.now()}-${Math.random()}`;
 * using server = bind(path);
 * using client = connect(path, { kind: "dgram" });
 * client.sendSync(new Uint8Array([9]));
 * console.log(server.receiveSync(new Uint8Array(4)).bytes); // 1
 * ```
 *
 * @example One server answers any client, with a descriptor (Linux)
 * ```ts
 * import { bind, pipe } from "./mod.ts";
 *
 * const path = `\0fdpass-doc-answer-${Date.now()}-${Math.random()}`;
 * using server = bind(path);
 * using client = bind(""); // autobind: an address to answer to
 * client.sendSync(new TextEncoder().encode("a pipe, please"), [], { to: path });
 * const request = server.receiveSync(new Uint8Array(64));
 * const [readEnd, writeEnd] = pipe();
 * server.sendSync(new Uint8Array([1]), [readEnd], { to: request.from });
 * const answer = client.receiveSync(new Uint8Array(1));
 * console.log(answer.from === path, answer.fds.length); // true 1
 * for (const x of [...answer.fds, readEnd, writeEnd]) x.close();
 * ```
 */
export function bind(path: string, options: BindOptions = {}): UnixSocket {
  const lib = libc();
  const kind = options.kind ?? "dgram";
  const address = path === ""
    ? encodeAutobind(lib.platform)
    : encodeSockaddrUn(path, lib.platform);
  const fd = newSocket(lib, kind, 0);
  const r = lib.bind(fd.fd, address.bytes, address.length);
  if (r < 0) {
    fd.close();
    throw systemError(-r, "bind", `Cannot bind to ${JSON.stringify(path)}`);
  }
  return adoptSocket(fd, kind);
}
