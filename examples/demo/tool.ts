/**
 * The sandboxed side of `npm run demo`: runs in Deno with `--allow-ffi` only,
 * so it cannot open the broker's file by path; it gets an open descriptor
 * instead.
 *
 * @module
 */

import { connect } from "../../mod.ts";

const runtime = "Bun" in globalThis ? "bun" : "deno";
const log = (text: string): void => console.log(`  [${runtime} tool] ${text}`);
const socketPath =
  (globalThis as { Deno?: { args: string[] } }).Deno?.args[0] ??
    process.argv[2]!;

using socket = connect(socketPath);
log(`connected to ${socketPath}`);
const buffer = new Uint8Array(256);
const { bytes, fds } = await socket.receive(buffer, { maxFds: 2 });
log(
  `received ${
    JSON.stringify(new TextDecoder().decode(buffer.subarray(0, bytes)))
  } with fds ${fds.map((fd) => fd.fd).join(", ")}`,
);
using file = fds[0]!;
using replyPipe = fds[1]!;

const contents = new Uint8Array(4096);
const n = file.readSync(contents);
const firstLine =
  new TextDecoder().decode(contents.subarray(0, n)).split("\n")[0];
log(
  `read ${n} bytes through the passed file descriptor; first line: ${
    JSON.stringify(firstLine)
  }`,
);

replyPipe.writeSync(
  new TextEncoder().encode(`the tool saw ${JSON.stringify(firstLine)}`),
);
log("answered through the passed pipe; closing everything");
