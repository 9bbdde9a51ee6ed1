/**
 * A worker of the TCP handoff example (Bun, or Deno with `--allow-ffi`
 * only): it receives accepted TCP connections from the front and serves
 * HTTP/1.1 on each through fdpass's `readable`/`writable` streams. Deno's
 * own HTTP server cannot take a descriptor; fdpass's streams can.
 *
 * @module
 */

import process from "node:process";
import { Channel, connect, Connection } from "../../mod.ts";
import { RUNTIME } from "../_runtimes.ts";
import { serveHttp } from "../_http.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const arg = process.argv[2]!;
const controlPath = arg.startsWith("@") ? `\0${arg.slice(1)}` : arg;

using front = new Channel(connect(controlPath, { kind: "seqpacket" }));
await front.send(
  encoder.encode(JSON.stringify({ runtime: RUNTIME, pid: process.pid })),
);

const serving: Promise<void>[] = [];
// Ends when the front closes the control channel.
for await (const { data, fds } of front) {
  const { connection: n } = JSON.parse(decoder.decode(data)) as {
    connection: number;
  };
  const connection = Connection.fromFd(fds[0]!); // takes ownership
  const peer = connection.remoteAddress();
  serving.push(
    serveHttp(
      connection,
      ({ method, path }) =>
        `${method} ${path}: served by the ${RUNTIME} worker (pid ${process.pid}), connection ${n} from ${
          peer.family === "unix" ? "a Unix socket" : `port ${peer.port}`
        }\n`,
    ),
  );
}
await Promise.all(serving);
