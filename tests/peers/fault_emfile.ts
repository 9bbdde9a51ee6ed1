/**
 * EMFILE on receive (Bun or Deno, `--allow-ffi` only, started under a low
 * RLIMIT_NOFILE). Connects to `\0<name>`, fills its descriptor table until
 * exactly FREE slots are left, then receives a message carrying more fds
 * than that, once with `receiveSync` and once with `receive`. Linux installs
 * the fds that fit, closes the rest and sets MSG_CTRUNC; fdpass must throw
 * ControlMessageError after closing the ones that arrived. The peer then
 * checks that FREE slots are free again (nothing leaked) and that the same
 * socket still delivers fds. It reports what it saw as one JSON line.
 *
 * Protocol with the parent: peer sends "R"; parent sends 1 byte + FREE+6
 * fds; (again for the async round); peer sends "A"; parent sends 1 byte +
 * 2 fds (the ends of one pipe).
 *
 * Usage: fault_emfile.ts <abstract-name-without-NUL>
 *
 * @module
 */

import { connect, ControlMessageError, type UnixSocket } from "../../mod.ts";
import {
  fillTable,
  freeSlots,
  report,
  scriptArgs,
  settleRuntime,
  warmReactor,
} from "./fault_common.ts";

/** Slots left free while the over-full message arrives. */
export const FREE = 4;

interface Round {
  error: string;
  code: string;
  closedFds: number;
  bytes: number;
  freeAfter: number;
}

async function overfull(socket: UnixSocket, async: boolean): Promise<Round> {
  const held = fillTable();
  for (const fd of held.splice(0, FREE)) fd.close();
  const out: Round = {
    error: "none",
    code: "",
    closedFds: -1,
    bytes: -1,
    freeAfter: -1,
  };
  try {
    const buffer = new Uint8Array(8);
    const result = async
      ? await socket.receive(buffer)
      : socket.receiveSync(buffer);
    for (const fd of result.fds) fd.close();
    out.error = `no error: ${result.fds.length} fds, ${result.bytes} bytes`;
  } catch (error) {
    out.error = (error as Error).name;
    if (error instanceof ControlMessageError) {
      out.code = error.code;
      out.closedFds = error.closedFds;
      out.bytes = error.bytes;
    } else {
      out.code = String((error as { code?: unknown }).code);
    }
  }
  for (const fd of held) fd.close();
  out.freeAfter = freeSlots();
  return out;
}

if (import.meta.main) {
  const [name] = scriptArgs();
  await warmReactor();
  await settleRuntime();
  const socket = connect(`\0${name}`);
  const freeAtStart = freeSlots();
  socket.sendSync(new TextEncoder().encode("R"));
  const sync = await overfull(socket, false);
  const async = await overfull(socket, true);
  socket.sendSync(new TextEncoder().encode("A"));
  const buffer = new Uint8Array(8);
  const after = socket.receiveSync(buffer);
  // The two fds are the ends of one pipe: write through one, read the other.
  let roundTrip = false;
  if (after.fds.length === 2) {
    after.fds[1]!.writeSync(new Uint8Array([42]));
    const byte = new Uint8Array(1);
    roundTrip = after.fds[0]!.readSync(byte) === 1 && byte[0] === 42;
  }
  const fdsAfter = after.fds.length;
  for (const fd of after.fds) fd.close();
  const freeAtEnd = freeSlots();
  socket.close();
  report({
    freeAtStart,
    sync,
    async,
    fdsAfter,
    bytesAfter: after.bytes,
    roundTrip,
    freeAtEnd,
  });
}
