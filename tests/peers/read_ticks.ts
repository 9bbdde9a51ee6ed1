/**
 * Child for owned_fd_io_test.ts (Deno gets `--allow-ffi` only): receives a
 * pipe's read end, counts the ticks of a 1 ms interval while an async
 * `read()` on it waits, and prints `{ ticks, text }` as JSON. It tells the
 * parent "waiting" once the read is pending; the parent writes later.
 *
 * Usage: read_ticks.ts PATH
 *
 * @module
 */

import process from "node:process";
import { connect } from "../../mod.ts";
import { socketPath } from "./_args.ts";

const socket = connect(socketPath(process.argv[2]));
const { fds: [received] } = await socket.receive(new Uint8Array(1));
using fd = received!;
let ticks = 0;
const interval = setInterval(() => ticks++, 1);
const buffer = new Uint8Array(64);
const pending = fd.read(buffer);
await socket.send(new TextEncoder().encode("w"));
const n = await pending;
clearInterval(interval);
socket.close();
console.log(JSON.stringify({
  ticks,
  text: new TextDecoder().decode(buffer.subarray(0, n)),
}));
