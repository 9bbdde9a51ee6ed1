/**
 * The TypeScript peer of cross_runtime_test.ts, run under Bun or under Deno
 * with `--allow-ffi` only (so it cannot open files by path: it gets them).
 *
 * Usage: sync_peer.ts KIND PATH. After the rendezvous of sync_channel.ts it:
 * 1. receives a file and a pipe's write end; reads the file from the shared
 *    offset, writes "child wrote\n" after it, and reports through the pipe;
 * 2. sends back the same file and the read end of a pipe of its own, then
 *    writes a greeting into that pipe;
 * 3. prints one JSON line and exits.
 *
 * @module
 */

import process from "node:process";
import { type OwnedFd, pipe, type SocketKind } from "../../mod.ts";
import { socketPath } from "./_args.ts";
import { connectChannel } from "./sync_channel.ts";

const runtime = "Bun" in globalThis ? "bun" : "deno";
const deno = (globalThis as { Deno?: { args: string[] } }).Deno;
const [kind, path] = deno?.args ?? process.argv.slice(2);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

using channel = connectChannel(kind as SocketKind, socketPath(path));

const buffer = new Uint8Array(64);
const got = channel.receiver.receiveSync(buffer);
const message = decoder.decode(buffer.subarray(0, got.bytes));
if (got.fds.length !== 2) {
  throw new Error(`expected 2 fds, got ${got.fds.length} (${message})`);
}
const [file, reply] = got.fds as [OwnedFd, OwnedFd];
const contents = new Uint8Array(256);
const read = decoder.decode(contents.subarray(0, file.readSync(contents)));
file.writeSync(encoder.encode("child wrote\n"));
reply.writeSync(
  encoder.encode(
    `${runtime} child read ${JSON.stringify(read)} after ${
      JSON.stringify(message)
    }`,
  ),
);
reply.close();

const [readEnd, writeEnd] = pipe();
channel.sender.sendSync(encoder.encode("back"), [file, readEnd]);
// Sending borrowed them: the parent holds its own copies now.
file.close();
readEnd.close();
writeEnd.writeSync(encoder.encode(`hello from the ${runtime} child`));
writeEnd.close();

console.log(JSON.stringify({ runtime, kind, message, read }));
