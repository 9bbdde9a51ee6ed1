/**
 * Stress child (Bun or Deno, `--allow-ffi` only): connects to the parent's
 * control socket, receives one end of a stream, a datagram and a seqpacket
 * pair, then runs the steps of `stress_plan.ts`: receives each request (sync
 * or async, random buffer sizes), checks bytes and fd count against the
 * plan, reads the token through every fd, echoes the fds back with a reply,
 * closes them, and only then tells the parent over the control socket, so
 * the parent can count this process's fds through /proc/<pid>/fd at a moment
 * when nothing of the step may remain open.
 *
 * Usage: stress_child.ts <abstract-name-without-NUL> <seed> <messages>
 *
 * @module
 */

import process from "node:process";
import { connect, UnixSocket } from "../../mod.ts";
import { settleRuntime, warmReactor } from "./fault_common.ts";
import {
  between,
  checkRequest,
  HEADER,
  KINDS,
  planStep,
  random,
  receiveFrame,
  REPLY,
  split,
  TOKEN,
} from "./stress_plan.ts";

const [name, seedText, countText] = process.argv.slice(2);
const seed = Number(seedText);
const count = Number(countText);

const control = connect(`\0${name}`);
const byte = new Uint8Array(1);
const setup = control.receiveSync(byte, { maxFds: 3 });
if (setup.fds.length !== 3) {
  throw new Error(`expected 3 sockets, got ${setup.fds.length}`);
}
const sockets = setup.fds.map((fd) => UnixSocket.fromFd(fd));
for (let i = 0; i < 3; i++) {
  if (sockets[i]!.kind !== KINDS[i]) {
    throw new Error(`socket ${i} is ${sockets[i]!.kind}, expected ${KINDS[i]}`);
  }
}
await warmReactor();
await settleRuntime();
const ready = new Uint8Array(4);
new DataView(ready.buffer).setUint32(0, process.pid, true);
control.sendSync(ready);

const scratch = new Uint8Array(400_000);
const tokenBuffer = new Uint8Array(TOKEN + 1);
let fdsChecked = 0;
let truncations = 0;
let reads = 0;
for (let seq = 0; seq < count; seq++) {
  const step = planStep(seed, seq);
  const socket = sockets[KINDS.indexOf(step.kind)]!;
  const rng = random(seed * 7 + seq);
  const bufferSize = step.truncateTo > 0
    ? step.truncateTo
    : step.total + (rng() < 0.5 ? 0 : between(rng, 1, 2048));
  const frame = await receiveFrame(socket, {
    total: step.total,
    fds: step.fds,
    bufferSize,
    async: step.childAsync,
    rng,
    scratch,
  });
  reads += frame.reads;
  try {
    const expectedBytes = step.truncateTo > 0 ? step.truncateTo : step.total;
    if (frame.data.length !== expectedBytes) {
      throw new Error(
        `step ${seq}: ${frame.data.length} bytes, expected ${expectedBytes}`,
      );
    }
    if (frame.truncated !== step.truncateTo > 0) {
      throw new Error(`step ${seq}: truncated is ${frame.truncated}`);
    }
    if (frame.truncated) truncations++;
    checkRequest(step, frame.data);
    if (frame.fds.length !== step.fds) {
      throw new Error(
        `step ${seq}: ${frame.fds.length} fds arrived, ${step.fds} were sent`,
      );
    }
    const reply = new Uint8Array(HEADER + TOKEN * step.fds);
    const view = new DataView(reply.buffer);
    view.setUint32(0, REPLY, true);
    view.setUint32(4, seq, true);
    view.setUint32(8, step.fds, true);
    for (let i = 0; i < frame.fds.length; i++) {
      // Each pipe holds exactly its 8-byte token and no writer is left.
      const n = frame.fds[i]!.readSync(tokenBuffer);
      if (n !== TOKEN) throw new Error(`step ${seq}: fd ${i} gave ${n} bytes`);
      reply.set(tokenBuffer.subarray(0, TOKEN), HEADER + TOKEN * i);
      fdsChecked++;
    }
    const data = split(rng, reply);
    if (step.childAsync) await socket.send(data, frame.fds);
    else socket.sendSync(data, frame.fds);
  } finally {
    for (const fd of frame.fds) fd.close();
  }
  control.sendSync(byte);
}

const quit = control.receiveSync(byte);
if (quit.bytes !== 1 || byte[0] !== 0x51) {
  throw new Error(`expected the quit byte, got ${quit.bytes} bytes`);
}
for (const socket of sockets) socket.close();
control.close();
console.log(
  JSON.stringify({ messages: count, fdsChecked, truncations, reads }),
);
