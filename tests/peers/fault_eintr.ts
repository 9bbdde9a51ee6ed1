/**
 * EINTR storms (Bun or Deno, `--allow-ffi` only). Installs a SIGUSR2
 * handler, connects to `\0<name>` (stream) and runs three phases while the
 * parent signals it:
 *
 * 1. blocked in `receiveSync` while a 200 000-byte message with 5 fds
 *    arrives in pieces;
 * 2. an async `receive` pending (the reactor waiting) until 1 byte + 3 fds
 *    arrive;
 * 3. blocked in `sendSync`: the send buffer is filled first, so the signals
 *    hit a sendmsg that has sent nothing yet (the fds must then go with the
 *    retry) and, once the parent drains, one that has sent part of the
 *    1 MiB message (the rest must go without fds).
 *
 * After phases 1 and 2 a nonblocking receive must find nothing: no message
 * and no fd arrives twice. Every fd sent either way is the read end of a
 * pipe holding one byte, its index, so identity and order are checked.
 *
 * Handlers: `runtime` installs `process.on("SIGUSR2")`; both runtimes then
 * use SA_RESTART, so the kernel restarts a blocked recvmsg/sendmsg itself
 * (only epoll_wait and friends return EINTR). `raw` installs a C handler
 * (libc's `getpid`, which ignores its argument) through `sigaction` with no
 * SA_RESTART, so every interrupted recvmsg/sendmsg returns EINTR to fdpass.
 *
 * Usage: fault_eintr.ts <abstract-name-without-NUL> <runtime|raw>
 *
 * @module
 */

import process from "node:process";
import { connect, type OwnedFd, pipe, SystemError } from "../../mod.ts";
import {
  pattern,
  patternByte,
  report,
  scriptArgs,
  warmReactor,
} from "./fault_common.ts";

export const MESSAGE1 = 200_000;
export const FDS1 = 5;
export const FDS2 = 3;
export const MESSAGE3 = 1 << 20;
export const FDS3 = 7;
/** Pattern tags of the parent's message 1 and of this peer's phase 3 stream. */
export const TAG1 = 21;
export const TAG3 = 22;
const SIGUSR2 = 12;

/** Installs libc's `getpid` as the SIGUSR2 handler, without SA_RESTART. */
async function installRawHandler(): Promise<void> {
  // struct sigaction (x86_64 and aarch64 glibc): handler at 0, mask at 8,
  // flags at 136, restorer at 144: 152 bytes. Flags 0: no SA_RESTART.
  const action = new Uint8Array(152);
  const view = new DataView(action.buffer);
  const name = new TextEncoder().encode("getpid\0");
  let result: number;
  if ("Bun" in globalThis) {
    const ffi = await import("bun:ffi") as unknown as {
      dlopen(path: string, symbols: Record<string, unknown>): {
        symbols: Record<string, (...args: unknown[]) => number>;
      };
    };
    const { symbols } = ffi.dlopen("libc.so.6", {
      dlsym: { args: ["ptr", "ptr"], returns: "u64" },
      sigaction: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    });
    const handler = symbols.dlsym!(null, name);
    view.setBigUint64(0, BigInt(handler), true);
    result = symbols.sigaction!(SIGUSR2, action, null);
  } else {
    const deno = (globalThis as unknown as {
      Deno: {
        dlopen(path: string, symbols: Record<string, unknown>): {
          symbols: Record<string, (...args: unknown[]) => number | bigint>;
        };
      };
    }).Deno;
    const { symbols } = deno.dlopen("libc.so.6", {
      dlsym: { parameters: ["pointer", "buffer"], result: "u64" },
      sigaction: { parameters: ["i32", "buffer", "pointer"], result: "i32" },
    });
    const handler = symbols.dlsym!(null, name);
    view.setBigUint64(0, BigInt(handler), true);
    result = Number(symbols.sigaction!(SIGUSR2, action, null));
  }
  if (view.getBigUint64(0, true) === 0n || result !== 0) {
    throw new Error(`cannot install the raw SIGUSR2 handler (${result})`);
  }
}

/** Reads the index byte through each fd; returns them in order. */
function indices(fds: readonly OwnedFd[]): number[] {
  const byte = new Uint8Array(1);
  return fds.map((fd) => fd.readSync(byte) === 1 ? byte[0]! : -1);
}

/** What a nonblocking receive finds once a phase is over ("EAGAIN": nothing). */
function leftover(receive: () => unknown): string {
  try {
    receive();
    return "a message";
  } catch (error) {
    return error instanceof SystemError ? error.code : String(error);
  }
}

/** Pipes whose read ends each hold one byte: their index. */
export function indexedPipes(count: number): OwnedFd[] {
  const out: OwnedFd[] = [];
  for (let i = 0; i < count; i++) {
    const [readEnd, writeEnd] = pipe();
    writeEnd.writeSync(new Uint8Array([i]));
    writeEnd.close();
    out.push(readEnd);
  }
  return out;
}

if (import.meta.main) {
  const [name, handler] = scriptArgs();
  let handled = 0;
  if (handler === "raw") await installRawHandler();
  else process.on("SIGUSR2", () => handled++);
  await warmReactor();
  const socket = connect(`\0${name}`);
  socket.sendSync(new TextEncoder().encode("1"));

  // Phase 1: blocking receives.
  const buffer = new Uint8Array(65536);
  const fds1: OwnedFd[] = [];
  let received = 0;
  let patternErrors = 0;
  let eof = false;
  while (received < MESSAGE1) {
    const r = socket.receiveSync(buffer);
    fds1.push(...r.fds);
    if (r.eof) {
      eof = true;
      break;
    }
    for (let i = 0; i < r.bytes; i++) {
      if (buffer[i] !== patternByte(TAG1, received + i)) patternErrors++;
    }
    received += r.bytes;
  }
  const phase1 = {
    received,
    eof,
    patternErrors,
    fds: indices(fds1),
    leftover: leftover(() => socket.receiveSync(buffer, { nonblocking: true })),
  };
  for (const fd of fds1) fd.close();
  socket.sendSync(new TextEncoder().encode("2"));

  // Phase 2: an async receive waits in the reactor.
  const r2 = await socket.receive(buffer);
  const phase2 = {
    bytes: r2.bytes,
    fds: indices(r2.fds),
    leftover: leftover(() => socket.receiveSync(buffer, { nonblocking: true })),
  };
  for (const fd of r2.fds) fd.close();

  // Phase 3: fill the send buffer, then block in sendSync with fds.
  let offset = 0;
  for (;;) {
    try {
      offset += socket.sendSync(pattern(TAG3, offset, 65536), [], {
        nonblocking: true,
      });
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") break;
      throw error;
    }
  }
  const sent3 = indexedPipes(FDS3);
  let sent = 0;
  try {
    sent = socket.sendSync(pattern(TAG3, offset, MESSAGE3), sent3);
  } finally {
    for (const fd of sent3) fd.close();
  }
  socket.shutdown("write");
  // Wait for the parent's verdict so that no signal can outlive this process.
  const last = socket.receiveSync(buffer);
  socket.close();
  report({
    phase1,
    phase2,
    phase3: { fillerBytes: offset, sent, parentSaid: last.bytes },
    handled,
  });
}
