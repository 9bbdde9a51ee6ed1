/**
 * A peer for the kill tests (Bun or Deno, `--allow-ffi` only). Connects to
 * `\0<name>` with socket `kind`, then:
 *
 * - `sender`: sends frames of FRAME pattern bytes, each with both ends of a
 *   fresh pipe attached, with `sendSync` forever (it blocks whenever the
 *   parent stops reading), until it is killed. On a stream the pattern runs
 *   on across frames: byte g of the stream is `patternByte(TAG, g)`.
 * - `idle`: sends one byte, then blocks forever without reading its socket.
 * - `credentials`: waits for one byte, sends 1 byte with 253 copies of a
 *   pipe's read end, then 2 bytes without fds, then waits for end of stream.
 *
 * Usage: fault_peer.ts <abstract-name-without-NUL> <kind> <sender|idle|credentials>
 *
 * @module
 */

import {
  connect,
  pipe,
  SCM_MAX_FD,
  type SocketKind,
  socketPair,
} from "../../mod.ts";
import { pattern, scriptArgs } from "./fault_common.ts";

/** Bytes per frame. */
export const FRAME = 65536;
/** Pattern tag of the sender's stream. */
export const TAG = 11;

if (import.meta.main) {
  const [name, kind, mode] = scriptArgs();
  const socket = connect(`\0${name}`, { kind: kind as SocketKind });
  if (mode === "idle") {
    socket.sendSync(new Uint8Array([1]));
    // Block in the kernel on a socket nobody writes to.
    const [a, b] = socketPair();
    b.receiveSync(new Uint8Array(1));
    a.close();
  } else if (mode === "credentials") {
    const buffer = new Uint8Array(1);
    socket.receiveSync(buffer);
    const [readEnd, writeEnd] = pipe();
    socket.sendSync(
      new Uint8Array([1]),
      Array.from({ length: SCM_MAX_FD }, () => readEnd),
    );
    socket.sendSync(new Uint8Array([2, 3]));
    readEnd.close();
    writeEnd.close();
    while (!socket.receiveSync(buffer).eof);
    socket.close();
  } else {
    for (let frame = 0;; frame++) {
      const data = pattern(TAG, kind === "stream" ? frame * FRAME : 0, FRAME);
      const [readEnd, writeEnd] = pipe();
      try {
        socket.sendSync(data, [readEnd, writeEnd]);
      } finally {
        readEnd.close();
        writeEnd.close();
      }
    }
  }
}
