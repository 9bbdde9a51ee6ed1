/**
 * A worker of the handoff example (Bun, or Deno with `--allow-ffi` only).
 * It connects to the front's control socket, then serves every connection
 * the front hands it: the frame carries the accepted socket's descriptor,
 * which `UnixSocket.fromFd` adopts.
 *
 * @module
 */

import process from "node:process";
import { Channel, connect, UnixSocket } from "../../mod.ts";
import { RUNTIME } from "../_runtimes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const arg = process.argv[2]!;
const controlPath = arg.startsWith("@") ? `\0${arg.slice(1)}` : arg;

using front = new Channel(connect(controlPath, { kind: "seqpacket" }));
await front.send(
  encoder.encode(JSON.stringify({ runtime: RUNTIME, pid: process.pid })),
);

// Ends when the front closes the control channel.
for await (const { data, fds } of front) {
  const { connection } = JSON.parse(decoder.decode(data)) as {
    connection: number;
  };
  using client = UnixSocket.fromFd(fds[0]!); // takes ownership of the fd
  const buffer = new Uint8Array(1024);
  const { bytes } = await client.receive(buffer, {
    signal: AbortSignal.timeout(60_000),
  });
  const request = decoder.decode(buffer.subarray(0, bytes));
  await client.send(encoder.encode(
    `served by the ${RUNTIME} worker (pid ${process.pid}), connection ${connection}: you said ${
      JSON.stringify(request)
    }`,
  ));
  // `using` closes the socket here: the client sees end of stream.
}
