/**
 * The rendezvous shared by the multi-process sync tests and their peers (the
 * TypeScript peer here, the CPython one in py_fds.py follows the same rules):
 *
 * - The parent opens `path` (an abstract `"\0name"`, passed to the peer as
 *   `"@name"`) before starting the peer: `listen()` for stream and
 *   seqpacket, `bind()` for dgram.
 * - The peer connects (dgram: binds `path + "-peer"` to receive, and sends
 *   to `path`), then sends the 5 bytes `ready`.
 * - The parent waits for `ready` without ever blocking on a peer that died,
 *   then (dgram) connects to `path + "-peer"` to send.
 *
 * Imports only the library, so a Deno peer needs `--allow-ffi` alone.
 *
 * @module
 */

import {
  bind,
  connect,
  listen,
  type OwnedFd,
  type ReceiveResult,
  type SocketKind,
  SystemError,
  type UnixListener,
  type UnixSocket,
} from "../../mod.ts";

/** What the peer sends first. */
export const READY = "ready";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Two directions of one conversation (one socket, except for dgram). */
export interface Channel extends Disposable {
  readonly kind: SocketKind;
  /** Where this side sends. */
  readonly sender: UnixSocket;
  /** Where this side receives. */
  readonly receiver: UnixSocket;
  close(): void;
}

function channel(
  kind: SocketKind,
  sender: UnixSocket,
  receiver: UnixSocket,
): Channel {
  const close = (): void => {
    sender.close();
    receiver.close();
  };
  return { kind, sender, receiver, close, [Symbol.dispose]: close };
}

/** Peer side: reaches the parent at `path` and says it is ready. */
export function connectChannel(kind: SocketKind, path: string): Channel {
  let result: Channel;
  if (kind === "dgram") {
    const receiver = bind(`${path}-peer`);
    try {
      result = channel(kind, connect(path, { kind }), receiver);
    } catch (error) {
      receiver.close();
      throw error;
    }
  } else {
    const socket = connect(path, { kind });
    result = channel(kind, socket, socket);
  }
  result.sender.sendSync(encoder.encode(READY));
  return result;
}

/** How a peer process ended (a subset of the helpers' RunResult). */
export interface PeerExit {
  code: number | null;
  stderr: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The parent's side of a channel, with the peer's exit in view. */
export interface ParentChannel extends Channel {
  /**
   * Receives one message without ever hanging on a dead peer: polls with
   * nonblocking receives and fails once the peer has exited with nothing
   * queued.
   */
  receive(buffer: Uint8Array, maxFds?: number): Promise<ReceiveResult>;
}

/** Parent side: opened before the peer starts. */
export class Rendezvous implements Disposable {
  readonly kind: SocketKind;
  readonly path: string;
  #listener: UnixListener | undefined;
  #bound: UnixSocket | undefined;

  /** Listens (stream, seqpacket) or binds (dgram) `path`. */
  constructor(kind: SocketKind, path: string) {
    this.kind = kind;
    this.path = path;
    if (kind === "dgram") this.#bound = bind(path);
    else this.#listener = listen(path, { kind });
  }

  /** Waits for the peer's `ready`; fails if `peer` settles first. */
  async accept(peer: Promise<PeerExit>): Promise<ParentChannel> {
    let exit: PeerExit | undefined;
    const gone = (): Error =>
      new Error(
        `the peer exited (code ${exit?.code}) before it was ready: ${exit?.stderr}`,
      );
    const controller = new AbortController();
    const ended = (result: PeerExit): void => {
      exit = result;
      controller.abort(gone());
    };
    void peer.then(
      ended,
      (error) => ended({ code: null, stderr: String(error) }),
    );
    let receiver: UnixSocket;
    if (this.#listener !== undefined) {
      receiver = await this.#listener.accept({
        signal: AbortSignal.any([
          controller.signal,
          AbortSignal.timeout(60_000),
        ]),
      });
    } else {
      receiver = this.#bound!;
      this.#bound = undefined;
    }
    const receive = async (
      buffer: Uint8Array,
      maxFds?: number,
    ): Promise<ReceiveResult> => {
      const options = maxFds === undefined
        ? { nonblocking: true }
        : { nonblocking: true, maxFds };
      for (;;) {
        try {
          return receiver.receiveSync(buffer, options);
        } catch (error) {
          if (!(error instanceof SystemError) || error.code !== "EAGAIN") {
            throw error;
          }
        }
        if (exit !== undefined) throw gone();
        await sleep(5);
      }
    };
    let sender = receiver;
    try {
      // Exactly READY.length bytes: on a stream, a larger buffer could take
      // the start of the next message (and its fds) too.
      const buffer = new Uint8Array(READY.length);
      const got = await receive(buffer, 0);
      const text = decoder.decode(buffer.subarray(0, got.bytes));
      if (got.eof || text !== READY) {
        throw new Error(`expected ${READY}, got ${JSON.stringify(text)}`);
      }
      if (this.kind === "dgram") {
        sender = connect(`${this.path}-peer`, { kind: "dgram" });
      }
    } catch (error) {
      receiver.close();
      throw error;
    }
    return { ...channel(this.kind, sender, receiver), receive };
  }

  /** Closes what is still open here. */
  close(): void {
    this.#listener?.close();
    this.#bound?.close();
  }

  /** Closes (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads `fd` until end of file. */
export function readAll(fd: OwnedFd): string {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = fd.readSync(buffer);
    if (n === 0) return chunks.join("");
    chunks.push(decoder.decode(buffer.subarray(0, n)));
  }
}
