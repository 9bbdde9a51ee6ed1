/**
 * Peer for unix_socket_test.ts: connects to the socket its argument names
 * ("@name": the abstract "\0name"), reads until end of stream, writes
 * "drained" through the first fd it received, and prints what it got.
 *
 * @module
 */

import process from "node:process";
import { connect, type OwnedFd } from "../../mod.ts";
import { socketPath } from "./_args.ts";

const deno = (globalThis as { Deno?: { args: string[] } }).Deno;

using socket = connect(socketPath((deno?.args ?? process.argv.slice(2))[0]));
const buffer = new Uint8Array(256 * 1024);
const fds: OwnedFd[] = [];
let bytes = 0;
let sum = 0;
for (;;) {
  const r = socket.receiveSync(buffer);
  if (r.eof) break;
  bytes += r.bytes;
  for (let i = 0; i < r.bytes; i++) sum += buffer[i]!;
  fds.push(...r.fds);
}
fds[0]?.writeSync(new TextEncoder().encode("drained"));
for (const fd of fds) fd.close();
console.log(JSON.stringify({ bytes, fds: fds.length, sum }));
