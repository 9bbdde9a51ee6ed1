/**
 * The far end of tests/channel_test.ts's cross-process tests, run under the
 * other runtime (Deno: --allow-ffi only).
 *
 * - `echo <path> <kind>`: connects, and for each frame writes
 *   "<frame text> fd <j>" into its j-th fd (pipe write ends), then answers
 *   "ack <frame text>" with the read end of a new pipe holding
 *   "reply to <frame text>". Ends at end of stream.
 * - `trickle <path> <seed>`: connects (stream) and writes raw frames byte by
 *   byte through a plain UnixSocket, each frame's fds (pipe read ends, each
 *   holding its label) attached to a random byte of the frame, pausing now
 *   and then so the reader sees the frame in pieces. Each payload starts
 *   with the labels, in order. Prints how many frames it sent.
 */
import process from "node:process";
import {
  Channel,
  connect,
  type OwnedFd,
  pipe,
  type SocketKind,
} from "../../mod.ts";
import { socketPath } from "./_args.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const [mode, path, extra] = process.argv.slice(2);

if (mode === "echo") {
  const kind = (extra ?? "stream") as SocketKind;
  using channel = new Channel(connect(socketPath(path), { kind }));
  for await (const frame of channel) {
    const label = decoder.decode(frame.data);
    frame.fds.forEach((fd, j) => {
      fd.writeSync(encoder.encode(`${label} fd ${j}`));
      fd.close();
    });
    const [r, w] = pipe();
    w.writeSync(encoder.encode(`reply to ${label}`));
    w.close();
    await channel.send(encoder.encode(`ack ${label}`), [r]);
    r.close();
  }
} else if (mode === "trickle") {
  // A small deterministic generator: the parent prints the seed on failure.
  let state = Number(extra ?? "1") >>> 0 || 1;
  const random = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  using socket = connect(socketPath(path));
  const frames = 12;
  for (let i = 0; i < frames; i++) {
    const count = random(4);
    const labels = Array.from({ length: count }, (_, j) => `f${i}d${j}`);
    const payload = encoder.encode(
      `${labels.join(",")} ${"x".repeat(random(200))}`,
    );
    const bytes = new Uint8Array(8 + payload.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, payload.length, true);
    view.setUint16(4, count, true);
    bytes.set(payload, 8);
    const fds: OwnedFd[] = [];
    for (const label of labels) {
      const [r, w] = pipe();
      w.writeSync(encoder.encode(label));
      w.close();
      fds.push(r);
    }
    // First byte, last byte, or anywhere in between.
    const choice = random(3);
    const at = choice === 0
      ? 0
      : choice === 1
      ? bytes.length - 1
      : random(bytes.length);
    // Runs of bytes per sendmsg, with the fds on byte `at` alone.
    let i0 = 0;
    while (i0 < bytes.length) {
      const run = i0 === at
        ? 1
        : Math.min(1 + random(5), at > i0 ? at - i0 : bytes.length - i0);
      socket.sendSync(bytes.subarray(i0, i0 + run), i0 === at ? fds : []);
      i0 += run;
      if (random(4) === 0) await new Promise((r) => setTimeout(r, 1));
    }
    for (const fd of fds) fd.close();
  }
  console.log(frames);
} else {
  throw new TypeError(`unknown mode ${mode}`);
}
