/**
 * Not a peer: the body of a Worker for tests/worker_test.ts. On its first
 * message it uses fdpass asynchronously so that the reactor really waits
 * (a receive answered only after a timer, a send that waits for room, a
 * receive cancelled by close()), closes everything and answers "done" (or
 * the error). onmessage is installed synchronously: a message posted before
 * a Worker module finishes evaluating is lost.
 *
 * @module
 */

import { ClosedError, socketPair } from "../../mod.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};

function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function work(): Promise<void> {
  const [a, b] = socketPair("seqpacket");
  try {
    // A receive that outlasts the spin phase and waits in the reactor.
    const buffer = new Uint8Array(8);
    const received = b.receive(buffer, { maxFds: 1 });
    await later(30);
    await a.send(new Uint8Array([7]), [a.fd]);
    const got = await received;
    for (const fd of got.fds) fd.close();
    if (got.bytes !== 1 || buffer[0] !== 7) throw new Error("wrong message");
    // A receive cancelled by close() while it waits.
    const cancelled = b.receive(buffer).then(
      () => new Error("resolved"),
      (error) => error,
    );
    await later(30);
    b.close();
    if (!((await cancelled) instanceof ClosedError)) {
      throw new Error("close() did not reject the receive");
    }
  } finally {
    a.close();
    b.close();
  }
}

async function plain(): Promise<void> {
  await later(30);
  await later(30);
}

function sync(): Promise<void> {
  const [a, b] = socketPair("seqpacket");
  try {
    a.sendSync(new Uint8Array([7]), [a.fd]);
    for (const fd of b.receiveSync(new Uint8Array(8)).fds) fd.close();
  } finally {
    a.close();
    b.close();
  }
  return plain();
}

/**
 * A receive that waits in the reactor, then the Worker closes its sockets
 * and ends itself in the same turn: the reactor's descriptors must be
 * closed by then (in Bun, a Worker's end stops its helper Worker's JS too).
 */
async function closeAndEnd(): Promise<void> {
  // The first round's reactor closes before the second opens its own.
  for (let round = 0; round < 2; round++) {
    const [a, b] = socketPair("seqpacket");
    const waiting = b.receive(new Uint8Array(8)).catch(() => {});
    // Long enough for the spin to end and the helper to start and take the
    // call, so that close() finds it in poll(2) (the path that leaked).
    await later(100);
    b.close();
    a.close();
    if (round === 1) {
      scope.postMessage("done");
      scope.close();
    }
    await waiting;
  }
}

scope.onmessage = (event) => {
  const mode = String(event.data);
  if (mode === "close-and-end") {
    closeAndEnd().catch((error) =>
      scope.postMessage(`error ${error?.stack ?? error}`)
    );
    return;
  }
  (mode === "plain" ? plain() : mode === "sync" ? sync() : work()).then(
    () => scope.postMessage("done"),
    (error) => scope.postMessage(`error ${error?.stack ?? error}`),
  );
};
