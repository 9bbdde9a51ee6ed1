/**
 * Peer for unix_socket_test.ts: counts SIGPIPE with a handler, sends to a
 * closed stream and seqpacket peer (MSG_NOSIGNAL: no signal), then writes to
 * a pipe without a reader (a signal: proves the handler works). Prints JSON.
 *
 * @module
 */

import process from "node:process";
import { pipe, type SocketKind, socketPair, SystemError } from "../../mod.ts";

let signals = 0;
const onSignal = (): void => {
  signals++;
};
process.on("SIGPIPE", onSignal);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function code(action: () => unknown): string {
  try {
    action();
    return "none";
  } catch (error) {
    if (error instanceof SystemError) return error.code;
    throw error;
  }
}

const out: Record<string, unknown> = {};
for (const kind of ["stream", "seqpacket"] as SocketKind[]) {
  const [a, b] = socketPair(kind);
  b.close();
  const result = code(() => a.sendSync(new Uint8Array([1])));
  a.close();
  // A signal raised by sendmsg would reach the handler well within this.
  await sleep(500);
  out[kind] = { code: result, signals };
}

const [r, w] = pipe();
r.close();
const result = code(() => w.writeSync(new Uint8Array([1])));
w.close();
for (let i = 0; i < 500 && signals === 0; i++) await sleep(20);
out.pipeWrite = { code: result, signalsAfter: signals };
console.log(JSON.stringify(out));
process.off("SIGPIPE", onSignal);
process.exit(0);
