/**
 * ETOOMANYREFS (Bun or Deno, `--allow-ffi` only; started as a non-root user
 * under a low RLIMIT_NOFILE: root is exempt). For each of stream and
 * seqpacket, sync and async: sends BATCH copies of one pipe fd per message
 * over a socket pair whose other end never reads, until the kernel refuses
 * (Linux counts the files in flight per user against RLIMIT_NOFILE); then
 * drains the receiving end, checks that exactly the accepted messages
 * arrived (the refused one left nothing behind), and that a send with fds
 * works again. Reports one JSON line.
 *
 * Usage: fault_toomanyrefs.ts
 *
 * @module
 */

import { pipe, type SocketKind, socketPair, SystemError } from "../../mod.ts";
import { freeSlots, report, settleRuntime } from "./fault_common.ts";

/** Fds per message (copies of one pipe end). */
export const BATCH = 10;
/** Messages tried before giving up on seeing the error. */
const LIMIT = 1000;

interface Round {
  kind: SocketKind;
  async: boolean;
  accepted: number;
  error: string;
  code: string;
  errno: number;
  syscall: string;
  drainedMessages: number;
  drainedFds: number;
  leftover: string;
  afterDrain: string;
}

async function round(kind: SocketKind, async: boolean): Promise<Round> {
  const [a, b] = socketPair(kind);
  const [readEnd, writeEnd] = pipe();
  const fds = Array.from({ length: BATCH }, () => readEnd);
  const one = new Uint8Array([1]);
  const out: Round = {
    kind,
    async,
    accepted: 0,
    error: "none",
    code: "",
    errno: 0,
    syscall: "",
    drainedMessages: 0,
    drainedFds: 0,
    leftover: "",
    afterDrain: "",
  };
  try {
    for (let i = 0; i < LIMIT; i++) {
      try {
        if (async) await a.send(one, fds);
        else a.sendSync(one, fds, { nonblocking: true });
        out.accepted++;
      } catch (error) {
        out.error = (error as Error).name;
        if (error instanceof SystemError) {
          out.code = error.code;
          out.errno = error.errno;
          out.syscall = error.syscall;
        }
        break;
      }
    }
    const buffer = new Uint8Array(4);
    for (;;) {
      try {
        const r = b.receiveSync(buffer, { nonblocking: true });
        out.drainedMessages++;
        out.drainedFds += r.fds.length;
        for (const fd of r.fds) fd.close();
      } catch (error) {
        out.leftover = String((error as { code?: unknown }).code);
        break;
      }
    }
    try {
      if (async) await a.send(one, fds);
      else a.sendSync(one, fds);
      const r = b.receiveSync(buffer, { nonblocking: true });
      out.afterDrain = `${r.bytes} bytes, ${r.fds.length} fds`;
      for (const fd of r.fds) fd.close();
    } catch (error) {
      out.afterDrain = `${(error as Error).name} ${
        String((error as { code?: unknown }).code)
      }`;
    }
  } finally {
    for (const x of [a, b, readEnd, writeEnd]) x.close();
  }
  return out;
}

if (import.meta.main) {
  await settleRuntime();
  const freeAtStart = freeSlots();
  const rounds: Round[] = [];
  for (const kind of ["stream", "seqpacket"] as const) {
    for (const async of [false, true]) rounds.push(await round(kind, async));
  }
  report({ freeAtStart, rounds, freeAtEnd: freeSlots() });
}
