/**
 * {@linkcode Channel}: whole frames, each with the descriptors sent with it,
 * over a {@linkcode UnixSocket} of any kind.
 *
 * On a stream socket the kernel attaches descriptors to bytes, not to
 * messages: a read may return earlier bytes together with the descriptors, or
 * the descriptors with the first few bytes of a message. A channel frames the
 * stream and hands every descriptor out with exactly the frame it was sent
 * with, however the kernel merged or split the reads.
 *
 * @module
 */

import {
  abortReason,
  checkSignal,
  isAborted,
  offAbort,
  onAbort,
  throwIfAborted,
} from "./_signal.ts";
import { ClosedError, ControlMessageError } from "./errors.ts";
import type { OwnedFd } from "./owned_fd.ts";
import {
  type FdLike,
  type ReceiveResult,
  SCM_MAX_FD,
  type ShutdownHow,
  type SocketKind,
  UnixSocket,
} from "./unix_socket.ts";
import { checkedLength } from "./platform/_views.ts";

/** "1 descriptor", "2 descriptors": messages count in words. */
function descriptors(count: number): string {
  return count === 1 ? "1 descriptor" : `${count} descriptors`;
}

/** Bytes of the frame header on a stream socket. */
const HEADER_BYTES = 8;

/** The default {@linkcode ChannelOptions.maxFrameSize}: 1 MiB. */
const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/** The largest length the header's 32-bit field holds. */
const MAX_FRAME_LIMIT = 0xffff_ffff;

/** Smallest free space offered to one stream read. */
const READ_CHUNK = 64 * 1024;

/**
 * One frame as it arrived: its bytes and the descriptors sent with it, each
 * owned by the caller now (close them, or pass them on).
 *
 * @example
 * ```ts
 * import { Channel, type Frame, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using left = new Channel(a);
 * using right = new Channel(b);
 * left.sendSync(new Uint8Array([1, 2, 3]));
 * const frame: Frame = right.receiveSync();
 * console.log(frame.data, frame.fds.length); // Uint8Array(3) [ 1, 2, 3 ] 0
 * ```
 */
export interface Frame {
  /** The frame's bytes: a fresh copy, the caller's to keep. */
  data: Uint8Array<ArrayBuffer>;
  /** The descriptors sent with this frame, in the order they were sent. */
  fds: OwnedFd[];
}

/**
 * Options for {@linkcode Channel}.
 *
 * @example
 * ```ts
 * import { Channel, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using channel = new Channel(a, { maxFrameSize: 64 * 1024 });
 * console.log(channel.maxFrameSize); // 65536
 * b.close();
 * ```
 */
export interface ChannelOptions {
  /**
   * The largest frame, in bytes, this end sends or accepts: 1 to
   * 4294967295, default 1 MiB. Sending a larger frame throws a
   * `RangeError`; receiving one throws a {@linkcode FrameError} with code
   * `"ERR_FRAME_TOO_LARGE"`. On seqpacket and datagram sockets this is also
   * the size of the receive buffer, allocated on the first receive.
   */
  maxFrameSize?: number;
}

/**
 * Options for {@linkcode Channel.send}.
 *
 * @example
 * ```ts
 * import { Channel, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using left = new Channel(a);
 * using right = new Channel(b);
 * await left.send(new Uint8Array([1]), [], { signal: AbortSignal.timeout(5_000) });
 * console.log((await right.receive()).data.length); // 1
 * ```
 */
export interface ChannelSendOptions {
  /**
   * Aborting rejects the send with the signal's reason while nothing of the
   * frame has gone out yet; once its first byte is out, the frame completes.
   */
  signal?: AbortSignal;
}

/**
 * Options for {@linkcode Channel.receive}.
 *
 * @example
 * ```ts
 * import { Channel, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using channel = new Channel(a);
 * try {
 *   await channel.receive({ signal: AbortSignal.timeout(10) });
 * } catch (error) {
 *   console.log((error as Error).name); // TimeoutError
 * }
 * b.close();
 * ```
 */
export interface ChannelReceiveOptions {
  /**
   * Aborting rejects the receive with the signal's reason. Bytes of a frame
   * that had partly arrived stay buffered for the next receive.
   */
  signal?: AbortSignal;
}

/**
 * Why a {@linkcode Channel} could not hand out a frame:
 *
 * - `"ERR_END_OF_STREAM"`: the peer closed (or shut down writing) between
 *   frames. Nothing was lost.
 * - `"ERR_FRAME_TRUNCATED"`: the stream ended inside a frame.
 * - `"ERR_FRAME_TOO_LARGE"`: the frame is larger than `maxFrameSize`.
 * - `"ERR_FRAME_HEADER"`: a stream frame header is malformed (reserved bytes
 *   not zero, or more than 253 descriptors claimed).
 * - `"ERR_FRAME_FDS_UNCLAIMED"`: descriptors arrived with the bytes of a
 *   frame that claims fewer (or none).
 * - `"ERR_FRAME_FDS_MISSING"`: a frame's bytes all arrived without the
 *   descriptors its header claims.
 *
 * @example
 * ```ts
 * import { Channel, FrameError, type FrameErrorCode, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using channel = new Channel(b);
 * a.close();
 * try {
 *   channel.receiveSync();
 * } catch (error) {
 *   const code: FrameErrorCode = (error as FrameError).code;
 *   console.log(code); // ERR_END_OF_STREAM
 * }
 * ```
 */
export type FrameErrorCode =
  | "ERR_END_OF_STREAM"
  | "ERR_FRAME_TRUNCATED"
  | "ERR_FRAME_TOO_LARGE"
  | "ERR_FRAME_HEADER"
  | "ERR_FRAME_FDS_UNCLAIMED"
  | "ERR_FRAME_FDS_MISSING";

/**
 * A {@linkcode Channel} could not hand out a frame. Every descriptor
 * involved has been closed (`closedFds` says how many).
 *
 * On a stream socket a framing error is final: the stream has lost its
 * place between frames, so the channel drops what it buffered (closing its
 * descriptors) and every later receive rejects with the same error, as an
 * errored `ReadableStream` does. `"ERR_END_OF_STREAM"` simply repeats. On
 * seqpacket and datagram sockets each message stands alone and the next
 * receive works.
 *
 * @example A peer that closes in the middle of a frame
 * ```ts
 * import { Channel, FrameError, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using channel = new Channel(b);
 * // A header announcing 100 bytes, then only 2 of them.
 * a.sendSync(new Uint8Array([100, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
 * a.close();
 * try {
 *   channel.receiveSync();
 * } catch (error) {
 *   if (!(error instanceof FrameError)) throw error;
 *   console.log(error.code); // ERR_FRAME_TRUNCATED
 * }
 * ```
 */
export class FrameError extends Error {
  /** What went wrong; see {@linkcode FrameErrorCode}. */
  readonly code: FrameErrorCode;
  /** How many received descriptors the channel closed because of it. */
  readonly closedFds: number;

  /** Creates the error. */
  constructor(message: string, code: FrameErrorCode, closedFds: number) {
    super(message);
    this.name = "FrameError";
    this.code = code;
    this.closedFds = closedFds;
  }
}

/** Descriptors one stream read delivered, and where that read ended. */
interface Batch {
  fds: OwnedFd[];
  /** Stream offset just past the read's last byte. */
  end: number;
}

const NO_FDS: readonly FdLike[] = [];
const NO_NUMBERS: readonly number[] = [];

function closeAll(fds: readonly OwnedFd[]): number {
  let closed = 0;
  for (const fd of fds) {
    if (fd.closed) continue;
    try {
      fd.close();
    } catch {
      // Someone closed the number behind our back; it is gone either way.
    }
    closed++;
  }
  return closed;
}

/**
 * The descriptors of `fds` as numbers, each item (and its `fd` getter) read
 * exactly once; the socket checks the numbers.
 */
function fdNumbers(fds: readonly FdLike[]): readonly number[] {
  if (!Array.isArray(fds)) {
    throw new TypeError("Cannot send a frame: fds must be an array");
  }
  const n = fds.length;
  if (n > SCM_MAX_FD) {
    throw new RangeError(
      `Cannot send ${n} file descriptors with one frame: at most ${SCM_MAX_FD}`,
    );
  }
  if (n === 0) return NO_NUMBERS;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const item = fds[i];
    const fd = typeof item === "object" && item !== null ? item.fd : item;
    // Numbers only past this point: an object here would have its getters
    // run inside the socket's send, after the frame's header is written.
    if (
      !Number.isInteger(fd) || (fd as number) < 0 ||
      (fd as number) > 0x7fff_ffff
    ) {
      throw new TypeError(
        `Cannot send file descriptor ${
          String(fd)
        } with a frame: expected a non-negative integer or an object with an fd (OwnedFd, UnixSocket)`,
      );
    }
    out.push(fd as number);
  }
  return out;
}

/** Waits for `previous` (which never rejects), or rejects when `signal` aborts. */
function waitTurn(
  previous: Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal === undefined) return previous;
  return new Promise((resolve, reject) => {
    const abort = (): void => reject(abortReason(signal));
    onAbort(signal, abort);
    void previous.then(() => {
      offAbort(signal, abort);
      // An abort the listener could not report (a signal whose prototype
      // was changed) is seen at the turn.
      if (isAborted(signal)) abort();
      else resolve();
    });
  });
}

/**
 * Frames with descriptors over a {@linkcode UnixSocket}: `send(frame, fds)`
 * on one end, `receive()` → `{ data, fds }` with exactly those descriptors on
 * the other, on every socket kind:
 *
 * - **stream**: each frame is an 8-byte header then its bytes. The header is
 *   little-endian: bytes 0–3 the frame length (u32), bytes 4–5 the number of
 *   descriptors (u16, 0 to 253), bytes 6–7 zero (reserved). The descriptors
 *   travel in one `sendmsg` whose data starts with the header. The receiver
 *   hands descriptors out in the order they arrived, as many to each frame
 *   as its header claims, and only to a frame with bytes in the read that
 *   brought them; so it copes with Linux merging earlier bytes into that
 *   read or ending it a few bytes into the frame, and with the BSDs
 *   starting it at the frame. Descriptors no frame claims, or a frame
 *   whose bytes all came without them, are a {@linkcode FrameError}.
 * - **seqpacket**: one frame is one message, no header, so any seqpacket
 *   peer can talk to a channel. An empty frame needs at least one
 *   descriptor: the kernel reports an empty message as end of stream.
 * - **dgram**: one frame is one datagram, no header (systemd's notify socket
 *   speaks this way). There is no end of stream: receiving waits until a
 *   datagram comes or the channel is closed.
 *
 * The channel owns the socket: closing the channel closes it, along with any
 * descriptors received but not yet handed out. Sends run in call order, and
 * so do receives. Sending borrows the descriptors, as
 * {@linkcode UnixSocket.send} does.
 *
 * @example Send a pipe with a frame and read it back through the pipe
 * ```ts
 * import { Channel, pipe, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * using left = new Channel(a);
 * using right = new Channel(b);
 * const [readEnd, writeEnd] = pipe();
 * await left.send(new TextEncoder().encode("log here"), [writeEnd]);
 * writeEnd.close(); // the frame carries it now
 *
 * const { data, fds: [log] } = await right.receive();
 * log!.writeSync(new TextEncoder().encode("hello"));
 * log!.close();
 * const text = new Uint8Array(5);
 * readEnd.readSync(text);
 * console.log(new TextDecoder().decode(data), new TextDecoder().decode(text)); // log here hello
 * readEnd.close();
 * ```
 */
export class Channel implements Disposable, AsyncIterable<Frame> {
  /**
   * The socket underneath, owned by the channel. Use it for addresses and
   * credentials (`peerCredentials()`), never to send or receive: that would
   * cut frames apart.
   */
  readonly socket: UnixSocket;
  /** The largest frame this end sends or accepts, in bytes. */
  readonly maxFrameSize: number;
  // Private copies for the channel's own reads: the public properties are
  // ordinary ones, and a getter defined over them would run the caller's
  // code between checking a frame and sending it.
  readonly #socket: UnixSocket;
  readonly #maxFrameSize: number;
  readonly #stream: boolean;
  readonly #seqpacket: boolean;
  // Stream reassembly: bytes received but not handed out, in
  // #buffer[#start, #end); #offset is the stream offset of #buffer[#start].
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #offset = 0;
  #batches: Batch[] = [];
  #eof = false;
  #failure: Error | undefined;
  // Seqpacket and dgram: one buffer as large as the largest frame.
  #message: Uint8Array | undefined;
  #header = new Uint8Array(HEADER_BYTES);
  #receiveTail: Promise<void> = Promise.resolve();
  #receiving = 0;
  #sending = 0;
  /** The length of the frame {@linkcode Channel.#prepare} last checked. */
  #prepared = 0;

  /**
   * Wraps `socket`, which the channel owns from now on.
   *
   * @throws {RangeError} if `maxFrameSize` is not an integer from 1 to
   * 4294967295.
   * @throws {TypeError} if `socket` is not a {@linkcode UnixSocket}.
   *
   * @example Over a seqpacket socket, where frames are messages
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair("seqpacket");
   * using left = new Channel(a);
   * using right = new Channel(b, { maxFrameSize: 4096 });
   * left.sendSync(new Uint8Array(4096));
   * console.log(right.receiveSync().data.length); // 4096
   * ```
   */
  constructor(socket: UnixSocket, options: ChannelOptions = {}) {
    if (!(socket instanceof UnixSocket)) {
      throw new TypeError("Cannot create channel: expected a UnixSocket");
    }
    const max = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    if (typeof max !== "number") {
      throw new TypeError(
        `Cannot create channel: maxFrameSize must be a number, got ${typeof max}`,
      );
    }
    if (!Number.isInteger(max) || max < 1 || max > MAX_FRAME_LIMIT) {
      throw new RangeError(
        `Cannot create channel: maxFrameSize must be an integer from 1 to ${MAX_FRAME_LIMIT}, got ${max}`,
      );
    }
    const kind = socket.kind;
    this.socket = this.#socket = socket;
    this.maxFrameSize = this.#maxFrameSize = max;
    this.#stream = kind === "stream";
    this.#seqpacket = kind === "seqpacket";
  }

  /** The kind of the socket underneath. */
  get kind(): SocketKind {
    return this.#socket.kind;
  }

  /** Whether {@linkcode Channel.close} was called (or the socket closed). */
  get closed(): boolean {
    return this.#socket.closed;
  }

  /**
   * Sends one frame with `fds` attached, without blocking the event loop.
   * Resolves once the whole frame is written. The descriptors are borrowed:
   * keep them open until the promise settles, then close your copies if you
   * mean to hand them over.
   *
   * @throws {RangeError} for a frame larger than `maxFrameSize`, more than
   * 253 descriptors, or an empty frame without descriptors on a seqpacket
   * socket (it would read as end of stream). Nothing is sent.
   * @throws {TypeError} for a frame that is not a `Uint8Array`, or a
   * descriptor that is not a non-negative integer or an `OwnedFd`.
   * @throws {SystemError} when the kernel refuses (`EPIPE`, `EBADF`, ...).
   * @throws {ClosedError} if the channel is or gets closed.
   *
   * @example
   * ```ts
   * import { Channel, pipe, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using left = new Channel(a);
   * using right = new Channel(b);
   * const [r, w] = pipe();
   * await left.send(new Uint8Array(0), [r, w]); // an empty frame may carry fds
   * const frame = await right.receive();
   * console.log(frame.data.length, frame.fds.length); // 0 2
   * for (const fd of [...frame.fds, r, w]) fd.close();
   * ```
   */
  async send(
    frame: Uint8Array,
    fds: readonly FdLike[] = NO_FDS,
    options?: ChannelSendOptions,
  ): Promise<void> {
    // The options first: once the descriptors' numbers are read, no getter
    // of the caller's may run (it could close one and reuse its number).
    const signal = checkSignal(options?.signal, "Cannot send a frame");
    const numbers = fdNumbers(fds);
    const data = this.#prepare(frame, numbers, new Uint8Array(HEADER_BYTES));
    this.#sending++;
    try {
      await this.#socket.send(
        data,
        numbers,
        signal === undefined ? undefined : { signal },
      );
    } finally {
      this.#sending--;
    }
  }

  /**
   * Sends one frame with `fds` attached, blocking until it is written.
   *
   * @throws {RangeError} {@linkcode TypeError} {@linkcode SystemError}
   * {@linkcode ClosedError} as {@linkcode Channel.send}.
   * @throws {Error} on a stream socket while an async `send` is still
   * writing (the bytes would land inside its frame).
   *
   * @example
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair("dgram");
   * using left = new Channel(a);
   * using right = new Channel(b);
   * left.sendSync(new TextEncoder().encode("one datagram"));
   * console.log(new TextDecoder().decode(right.receiveSync().data)); // one datagram
   * ```
   */
  sendSync(frame: Uint8Array, fds: readonly FdLike[] = NO_FDS): void {
    if (this.#stream && this.#sending > 0) {
      throw new Error(
        "Cannot send a frame synchronously while an async send is writing on this stream",
      );
    }
    const numbers = fdNumbers(fds);
    const data = this.#prepare(frame, numbers, this.#header);
    const expected = this.#stream ? HEADER_BYTES + this.#prepared : -1;
    const sent = this.#socket.sendSync(data, numbers);
    if (expected >= 0 && sent !== expected) {
      // Only a socket switched to O_NONBLOCK elsewhere stops half way.
      throw new Error(
        `Cannot send a frame: the socket is nonblocking and took ${sent} of ${expected} bytes; the peer now holds part of a frame`,
      );
    }
  }

  /**
   * Receives the next frame without blocking the event loop: its bytes and
   * exactly the descriptors sent with it. Receives run in call order.
   *
   * @throws {FrameError} `"ERR_END_OF_STREAM"` once the peer has closed, or
   * another code when the peer broke the framing (its descriptors closed).
   * @throws {ControlMessageError} when the kernel could not deliver
   * descriptors (no free descriptor slots); on a stream this is final too.
   * @throws {SystemError} when the kernel refuses (`ECONNRESET`, ...).
   * @throws {ClosedError} if the channel is or gets closed.
   *
   * @example
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using left = new Channel(a);
   * using right = new Channel(b);
   * const next = right.receive();
   * await left.send(new TextEncoder().encode("hi"));
   * console.log(new TextDecoder().decode((await next).data)); // hi
   * ```
   */
  async receive(options?: ChannelReceiveOptions): Promise<Frame> {
    const signal = checkSignal(options?.signal, "Cannot receive a frame");
    throwIfAborted(signal);
    const previous = this.#receiveTail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => release = resolve);
    // Successors wait for every receive queued before them, even when this
    // one gives up early.
    this.#receiveTail = previous.then(() => mine);
    this.#receiving++;
    try {
      await waitTurn(previous, signal);
      return await this.#receiveNow(signal);
    } finally {
      this.#receiving--;
      release();
    }
  }

  /**
   * Receives the next frame, blocking until it is complete.
   *
   * @throws {FrameError} {@linkcode ControlMessageError}
   * {@linkcode SystemError} {@linkcode ClosedError} as
   * {@linkcode Channel.receive}.
   * @throws {Error} while an async `receive` is pending on this channel.
   *
   * @example
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using left = new Channel(a);
   * using right = new Channel(b);
   * left.sendSync(new Uint8Array([1]));
   * left.sendSync(new Uint8Array([2, 3]));
   * console.log(right.receiveSync().data, right.receiveSync().data); // Uint8Array(1) [ 1 ] Uint8Array(2) [ 2, 3 ]
   * ```
   */
  receiveSync(): Frame {
    if (this.#receiving > 0) {
      throw new Error(
        "Cannot receive a frame synchronously while an async receive is pending on this channel",
      );
    }
    if (!this.#stream) {
      const buffer = this.#messageBuffer();
      return this.#messageFrame(buffer, this.#socket.receiveSync(buffer));
    }
    for (;;) {
      const frame = this.#nextFrame();
      if (frame !== undefined) return frame;
      const target = this.#reserve();
      let result: ReceiveResult;
      try {
        result = this.#socket.receiveSync(target);
      } catch (error) {
        throw this.#failOn(error);
      }
      this.#ingest(result);
    }
  }

  /**
   * Yields each frame until the peer closes (end of stream) or the channel is
   * closed. A framing error is thrown from the loop.
   *
   * @example
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const sender = new Channel(a);
   * for (const word of ["one", "two", "three"]) {
   *   sender.sendSync(new TextEncoder().encode(word));
   * }
   * sender.close(); // end of stream for the reader
   * using receiver = new Channel(b);
   * const words: string[] = [];
   * for await (const { data } of receiver) words.push(new TextDecoder().decode(data));
   * console.log(words); // [ "one", "two", "three" ]
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Frame> {
    for (;;) {
      if (this.closed) return;
      let frame: Frame;
      try {
        frame = await this.receive();
      } catch (error) {
        if (
          (error instanceof FrameError && error.code === "ERR_END_OF_STREAM") ||
          (error instanceof ClosedError && this.closed)
        ) return;
        throw error;
      }
      yield frame;
    }
  }

  /**
   * Closes the socket and every descriptor received but not yet handed out.
   * Pending sends and receives reject with a `ClosedError`. Calling it again
   * is a no-op.
   *
   * @example
   * ```ts
   * import { Channel, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * const channel = new Channel(a);
   * channel.close();
   * console.log(channel.closed, a.closed); // true true
   * b.close();
   * ```
   */
  close(): void {
    this.#socket.close();
    this.#drop();
    this.#message = undefined;
  }

  /**
   * Ends reading, writing or both on the socket (`shutdown(2)`): after
   * `"write"` the peer receives every frame already sent, then a
   * {@linkcode FrameError} with code `"ERR_END_OF_STREAM"`. A send still
   * pending is cut short (the peer sees `"ERR_FRAME_TRUNCATED"`): await
   * sends first. The channel stays open until {@linkcode Channel.close}.
   *
   * @throws {ClosedError} once closed.
   * @throws {TypeError} if `how` is not `"read"`, `"write"` or `"both"`.
   *
   * @example Tell the peer there are no more frames
   * ```ts
   * import { Channel, FrameError, socketPair } from "./mod.ts";
   *
   * const [a, b] = socketPair();
   * using left = new Channel(a);
   * using right = new Channel(b);
   * left.sendSync(new Uint8Array([1, 2]));
   * left.shutdown("write");
   * console.log(right.receiveSync().data.length); // 2
   * try {
   *   right.receiveSync();
   * } catch (error) {
   *   if (!(error instanceof FrameError)) throw error;
   *   console.log(error.code); // "ERR_END_OF_STREAM"
   * }
   * ```
   */
  shutdown(how: ShutdownHow = "both"): void {
    this.#socket.shutdown(how);
  }

  /** Closes the channel (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Shows the kind and whether it is closed. */
  toString(): string {
    return this.closed
      ? `Channel(${this.kind}, closed)`
      : `Channel(${this.kind}, fd ${this.#socket.fd})`;
  }

  /**
   * Checks a frame and writes its header; `fds` are plain numbers read
   * once, so no user code runs between the header and the send. The
   * frame's length is left in `#prepared`.
   */
  #prepare(
    frame: Uint8Array,
    fds: readonly FdLike[],
    header: Uint8Array,
  ): Uint8Array | Uint8Array[] {
    // The engine's own length: the header must announce exactly the bytes
    // the socket will send.
    const length = checkedLength(frame, "Cannot send a frame");
    this.#prepared = length;
    if (length > this.#maxFrameSize) {
      throw new RangeError(
        `Cannot send a frame of ${length} bytes: maxFrameSize is ${this.#maxFrameSize}`,
      );
    }
    if (!this.#stream) {
      if (
        length === 0 && fds.length === 0 && this.#seqpacket
      ) {
        throw new RangeError(
          "Cannot send an empty frame without descriptors on a seqpacket socket: the peer would read it as end of stream",
        );
      }
      return frame;
    }
    const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
    view.setUint32(0, length, true);
    view.setUint16(4, fds.length, true);
    view.setUint16(6, 0, true);
    return [header, frame];
  }

  async #receiveNow(signal: AbortSignal | undefined): Promise<Frame> {
    const options = signal === undefined ? {} : { signal };
    if (!this.#stream) {
      const buffer = this.#messageBuffer();
      const result = await this.#socket.receive(buffer, options);
      this.#checkStillOpen(result);
      return this.#messageFrame(buffer, result);
    }
    for (;;) {
      const frame = this.#nextFrame();
      if (frame !== undefined) return frame;
      const target = this.#reserve();
      let result: ReceiveResult;
      try {
        result = await this.#socket.receive(target, options);
      } catch (error) {
        throw this.#failOn(error);
      }
      this.#checkStillOpen(result);
      this.#ingest(result);
    }
  }

  /**
   * A receive that completed while the channel was being closed (another
   * handler of the same wake-up called `close()`): its buffer is gone, and
   * its descriptors have no owner but this call.
   */
  #checkStillOpen(result: ReceiveResult): void {
    if (!this.#socket.closed) return;
    closeAll(result.fds);
    throw new ClosedError("Cannot receive a frame: the channel was closed");
  }

  #messageBuffer(): Uint8Array {
    if (this.closed) {
      throw new ClosedError("Cannot receive a frame: the channel is closed");
    }
    return this.#message ??= new Uint8Array(this.#maxFrameSize);
  }

  #messageFrame(buffer: Uint8Array, result: ReceiveResult): Frame {
    if (result.truncated) {
      const closed = closeAll(result.fds);
      throw new FrameError(
        `Cannot receive a frame: the message was larger than maxFrameSize (${this.#maxFrameSize} bytes) and was cut; its ${
          descriptors(closed)
        } ${closed === 1 ? "was" : "were"} closed`,
        "ERR_FRAME_TOO_LARGE",
        closed,
      );
    }
    if (result.eof) {
      throw new FrameError(
        "Cannot receive a frame: end of stream",
        "ERR_END_OF_STREAM",
        0,
      );
    }
    return { data: buffer.slice(0, result.bytes), fds: result.fds };
  }

  /** A complete frame from the buffer, or `undefined` if it needs more bytes. */
  #nextFrame(): Frame | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    const available = this.#end - this.#start;
    if (available < HEADER_BYTES) {
      if (this.#eof) this.#endOfStream(available);
      return undefined;
    }
    const view = new DataView(
      this.#buffer.buffer,
      this.#buffer.byteOffset + this.#start,
      HEADER_BYTES,
    );
    const length = view.getUint32(0, true);
    const claimed = view.getUint16(4, true);
    const reserved = view.getUint16(6, true);
    if (reserved !== 0 || claimed > SCM_MAX_FD) {
      this.#fail(
        reserved !== 0
          ? `the frame header's reserved bytes are ${reserved}, not 0 (the peer does not speak this framing)`
          : `the frame header claims ${claimed} descriptors, more than ${SCM_MAX_FD}`,
        "ERR_FRAME_HEADER",
        [],
      );
    }
    if (length > this.#maxFrameSize) {
      this.#fail(
        `the frame header announces ${length} bytes, more than maxFrameSize (${this.#maxFrameSize})`,
        "ERR_FRAME_TOO_LARGE",
        [],
      );
    }
    const total = HEADER_BYTES + length;
    if (available < total) {
      if (this.#eof) this.#endOfStream(available);
      return undefined;
    }
    const frameStart = this.#offset;
    const frameEnd = frameStart + total;
    const fds: OwnedFd[] = [];
    const batches = this.#batches;
    while (fds.length < claimed) {
      const batch = batches[0];
      // Every byte of the frame is here: its descriptors came with one of
      // them, or they are not coming.
      if (batch === undefined || batch.end <= frameStart) {
        this.#fail(
          `the frame claims ${
            descriptors(claimed)
          } but ${fds.length} arrived with its bytes`,
          "ERR_FRAME_FDS_MISSING",
          fds,
        );
      }
      if (fds.length + batch.fds.length > claimed) {
        this.#fail(
          `${
            descriptors(fds.length + batch.fds.length)
          } arrived with a frame that claims ${claimed}`,
          "ERR_FRAME_FDS_UNCLAIMED",
          fds,
        );
      }
      batches.shift();
      fds.push(...batch.fds);
    }
    // Descriptors that came with no byte after this frame's end belong to
    // this frame or an earlier one, none of which claims them.
    const next = batches[0];
    if (next !== undefined && next.end <= frameEnd) {
      this.#fail(
        `${
          descriptors(next.fds.length)
        } arrived with a frame that claims ${claimed}`,
        "ERR_FRAME_FDS_UNCLAIMED",
        fds,
      );
    }
    const data = this.#buffer.slice(
      this.#start + HEADER_BYTES,
      this.#start + total,
    );
    this.#start += total;
    this.#offset += total;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { data, fds };
  }

  /** Free space at the end of the buffer for the next read. */
  #reserve(): Uint8Array {
    const available = this.#end - this.#start;
    let wanted = READ_CHUNK;
    if (available >= HEADER_BYTES) {
      const length = new DataView(
        this.#buffer.buffer,
        this.#buffer.byteOffset + this.#start,
        4,
      ).getUint32(0, true);
      wanted = Math.max(wanted, HEADER_BYTES + length - available);
    }
    if (available === 0 && this.#buffer.length > 4 * READ_CHUNK) {
      // A large frame has gone out: give its space back.
      this.#buffer = new Uint8Array(0);
    }
    const buffer = this.#buffer;
    if (buffer.length - this.#end < wanted) {
      const size = available + wanted;
      if (this.#start > 0 && size <= buffer.length) {
        buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(size, 2 * buffer.length));
        grown.set(buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#start = 0;
      this.#end = available;
    }
    return this.#buffer.subarray(this.#end);
  }

  /** Takes in what one stream read delivered into the reserved space. */
  #ingest(result: ReceiveResult): void {
    const start = this.#offset + (this.#end - this.#start);
    this.#end += result.bytes;
    if (result.fds.length > 0) {
      this.#batches.push({ fds: result.fds, end: start + result.bytes });
    }
    if (result.eof) this.#eof = true;
  }

  #endOfStream(available: number): never {
    if (available === 0 && this.#batches.length === 0) {
      throw new FrameError(
        "Cannot receive a frame: end of stream",
        "ERR_END_OF_STREAM",
        0,
      );
    }
    this.#fail(
      available === 0
        ? "descriptors arrived with no frame before the end of stream"
        : `the stream ended ${available} bytes into a frame`,
      available === 0 ? "ERR_FRAME_FDS_UNCLAIMED" : "ERR_FRAME_TRUNCATED",
      [],
    );
  }

  /** Records a final stream error: everything buffered goes, fds closed. */
  #fail(reason: string, code: FrameErrorCode, taken: OwnedFd[]): never {
    const closed = closeAll(taken) + this.#drop();
    const error = new FrameError(
      `Cannot receive a frame: ${reason}; ${
        descriptors(closed)
      } closed, and the stream cannot be read further`,
      code,
      closed,
    );
    this.#failure = error;
    throw error;
  }

  /** A receive on the stream failed: a lost control message is final. */
  #failOn(error: unknown): unknown {
    if (error instanceof ControlMessageError) {
      this.#drop();
      this.#failure = error;
    }
    return error;
  }

  /** Closes buffered descriptors and forgets buffered bytes. */
  #drop(): number {
    let closed = 0;
    for (const batch of this.#batches) closed += closeAll(batch.fds);
    this.#batches = [];
    this.#buffer = new Uint8Array(0);
    this.#start = this.#end = 0;
    return closed;
  }
}
