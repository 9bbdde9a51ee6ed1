/**
 * Peer for hostile_test.ts: connects to the stream socket its argument
 * names ("@name": the abstract "\0name"), reads until end of stream into a
 * 1 MiB buffer, and prints how many bytes arrived.
 *
 * @module
 */

import process from "node:process";
import { connect } from "../../mod.ts";
import { socketPath } from "./_args.ts";

const deno = (globalThis as { Deno?: { args: string[] } }).Deno;

using socket = connect(socketPath((deno?.args ?? process.argv.slice(2))[0]));
const buffer = new Uint8Array(1 << 20);
let bytes = 0;
for (;;) {
  const r = socket.receiveSync(buffer);
  if (r.eof) break;
  bytes += r.bytes;
}
console.log(JSON.stringify({ bytes }));
