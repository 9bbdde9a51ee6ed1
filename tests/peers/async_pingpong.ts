/**
 * Async ping-pong with one fd each way, for tests/async_peers_test.ts. The
 * test process plays one side in-process (it imports `ping` and `serve`);
 * a child of the other runtime, or the CPython twin `async_pingpong.py`,
 * plays the other.
 *
 * Protocol, round i of N: the client sends the u32 i with one fd attached
 * (one end of a socket pair it keeps the other end of); the server writes
 * the u32 2i through the fd it received and sends i back with that same fd
 * attached; the client writes 2i+1 through the fd that came back. At the end
 * the client reads its end: exactly 0, 1, ..., 2N-1 proves every fd that
 * travelled was the same open file, in both directions, every round.
 *
 * usage: async_pingpong.ts serve|client stream|seqpacket @NAME N
 * (serve listens on "\0NAME"; client connects to it, retrying until it exists)
 *
 * @module
 */

import process from "node:process";
import {
  connect,
  listen,
  type OwnedFd,
  type SocketKind,
  socketPair,
  SystemError,
  type UnixSocket,
} from "../../mod.ts";

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** Receives exactly 4 bytes (one u32), with the fds that came along; `null` at end of stream. */
async function receiveU32(
  socket: UnixSocket,
): Promise<{ value: number; fds: OwnedFd[] } | null> {
  const bytes = new Uint8Array(4);
  const fds: OwnedFd[] = [];
  let at = 0;
  while (at < 4) {
    const got = await socket.receive(bytes.subarray(at), { maxFds: 4 });
    fds.push(...got.fds);
    if (got.eof) {
      if (at === 0 && fds.length === 0) return null;
      for (const fd of fds) fd.close();
      throw new Error(`end of stream inside a message (${at} bytes)`);
    }
    at += got.bytes;
  }
  return { value: new DataView(bytes.buffer).getUint32(0, true), fds };
}

function expectOne(
  message: { value: number; fds: OwnedFd[] } | null,
  round: number,
  who: string,
): OwnedFd {
  if (message === null) {
    throw new Error(`${who}: end of stream in round ${round}`);
  }
  if (message.value !== round || message.fds.length !== 1) {
    for (const fd of message.fds) fd.close();
    throw new Error(
      `${who}: round ${round}: got ${message.value} with ${message.fds.length} fds`,
    );
  }
  return message.fds[0]!;
}

/** The server side: echoes `rounds` rounds, then expects end of stream. */
export async function serve(socket: UnixSocket, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const fd = expectOne(await receiveU32(socket), i, "server");
    try {
      fd.writeSync(u32(2 * i));
      await socket.send(u32(i), [fd]);
    } finally {
      fd.close();
    }
  }
  const end = await receiveU32(socket);
  if (end !== null) {
    for (const fd of end.fds) fd.close();
    throw new Error(`server: expected end of stream, got ${end.value}`);
  }
}

/**
 * The client side: `rounds` rounds, then checks every fd's identity and
 * closes (shuts down) its side of `socket`.
 */
export async function ping(socket: UnixSocket, rounds: number): Promise<void> {
  const [mine, travelling] = socketPair("stream");
  // Read as we go: 2N small writes would fill the socket buffer.
  const all = new Uint8Array(8 * rounds + 8);
  let at = 0;
  const drain = (): void => {
    for (;;) {
      if (at === all.length) throw new Error("client: too many bytes");
      try {
        const got = mine.receiveSync(all.subarray(at), { nonblocking: true });
        if (got.eof) throw new Error("client: its own socket pair ended");
        at += got.bytes;
      } catch (error) {
        if (error instanceof SystemError && error.code === "EAGAIN") return;
        throw error;
      }
    }
  };
  try {
    for (let i = 0; i < rounds; i++) {
      await socket.send(u32(i), [travelling]);
      const back = expectOne(await receiveU32(socket), i, "client");
      try {
        back.writeSync(u32(2 * i + 1));
      } finally {
        back.close();
      }
      drain();
    }
    socket.shutdown("write");
    travelling.close();
    // End of stream comes once the peer closed every copy it received.
    for (;;) {
      if (at === all.length) throw new Error("client: too many bytes");
      const got = await mine.receive(all.subarray(at));
      if (got.eof) break;
      at += got.bytes;
    }
    if (at !== 8 * rounds) {
      throw new Error(
        `client: ${at} bytes came through the fds, expected ${8 * rounds}`,
      );
    }
    const view = new DataView(all.buffer);
    for (let k = 0; k < 2 * rounds; k++) {
      const value = view.getUint32(4 * k, true);
      if (value !== k) {
        throw new Error(
          `client: write ${k} through the fds read back as ${value}`,
        );
      }
    }
  } finally {
    mine.close();
    travelling.close();
  }
}

/** Connects to `name`, retrying while nobody listens there yet (up to 60 s). */
export async function connectWhenListening(
  name: string,
  kind: SocketKind,
): Promise<UnixSocket> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return connect(name, { kind });
    } catch (error) {
      const missing = error instanceof SystemError &&
        (error.code === "ECONNREFUSED" || error.code === "ENOENT");
      if (!missing || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function main(args: readonly string[]): Promise<void> {
  const [role, kind, at, count] = args as [string, SocketKind, string, string];
  const name = `\0${at.slice(1)}`;
  const rounds = Number(count);
  if (role === "serve") {
    using listener = listen(name, { kind });
    using socket = await listener.accept();
    await serve(socket, rounds);
    console.log(`served ${rounds}`);
  } else {
    using socket = await connectWhenListening(name, kind);
    await ping(socket, rounds);
    console.log(`pinged ${rounds}`);
  }
}

if (import.meta.main) {
  const args: string[] = (globalThis as { Deno?: { args: string[] } }).Deno
    ?.args ?? process.argv.slice(2);
  await main(args);
}
