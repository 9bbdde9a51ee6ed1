/**
 * Peer for permissions_test.ts, run by Deno with chosen permissions and
 * `--no-prompt`. Prints one JSON line.
 *
 * Usage: sync_permissions.ts MODE
 * - import: only imports the library (needs no permission).
 * - pair: calls socketPair() and pipe() and reports the errors they throw.
 * - roundtrip: passes a pipe's write end over a socket pair, writes through
 *   the received fd and reads it back from the read end; then a nonblocking
 *   receive with nothing queued (errno EAGAIN) and an async receive that
 *   waits for a later send.
 *
 * @module
 */

import {
  FfiUnavailableError,
  type OwnedFd,
  pipe,
  socketPair,
} from "../../mod.ts";

const deno = (globalThis as { Deno?: { args: string[] } }).Deno;
const mode = deno?.args[0];

function describe(action: () => unknown): Record<string, unknown> {
  try {
    action();
    return { threw: false };
  } catch (error) {
    const e = error as Error & { code?: unknown; cause?: unknown };
    return {
      threw: true,
      ffiUnavailable: error instanceof FfiUnavailableError,
      name: e.name,
      code: e.code,
      message: e.message,
      causeName: (e.cause as Error | undefined)?.name ?? null,
    };
  }
}

if (mode === "import") {
  console.log(JSON.stringify({ imported: typeof socketPair === "function" }));
} else if (mode === "pair") {
  console.log(JSON.stringify({
    first: describe(() => socketPair()),
    second: describe(() => socketPair()),
    pipe: describe(() => pipe()),
  }));
} else if (mode === "roundtrip") {
  const [a, b] = socketPair();
  const [readEnd, writeEnd] = pipe();
  a.sendSync(new TextEncoder().encode("w"), [writeEnd]);
  writeEnd.close();
  const { bytes, fds } = b.receiveSync(new Uint8Array(4));
  const received = fds[0] as OwnedFd;
  received.writeSync(new TextEncoder().encode("through the passed fd"));
  received.close();
  const buffer = new Uint8Array(64);
  const n = readEnd.readSync(buffer);
  // errno read back: nothing is waiting.
  const empty = describe(() =>
    b.receiveSync(new Uint8Array(1), { nonblocking: true })
  );
  // An async receive, which parks on the reactor until the send.
  const pending = b.receive(new Uint8Array(4));
  setTimeout(() => a.sendSync(new TextEncoder().encode("late")), 10);
  const late = await pending;
  for (const x of [a, b, readEnd]) x.close();
  console.log(JSON.stringify({
    bytes,
    fds: fds.length,
    text: new TextDecoder().decode(buffer.subarray(0, n)),
    empty: empty.code,
    late: late.bytes,
  }));
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}
