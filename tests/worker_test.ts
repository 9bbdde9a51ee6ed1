/**
 * A Worker that is done with fdpass leaves no descriptor behind. Neither
 * runtime tells a Worker it is about to end (Bun runs `process.on("exit")`
 * on `self.close()` only, not on `terminate()`; Deno runs no `unload` in a
 * Worker at all), so fdpass's reactor closes its descriptors whenever
 * nothing waits. Five Workers each use fdpass asynchronously (a receive
 * that waits in the reactor, a receive cancelled by close()) and end; the
 * process's epoll, eventfd and pipe descriptors (the only kinds fdpass can
 * make besides sockets) and its sockets are then as many as before. A
 * runtime's own Worker plumbing is released when the Worker ends, so the
 * count is awaited, not taken at once.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { EMULATED, openFds, RUNTIME, warmUp } from "./_helpers.ts";
import { waitFor, within } from "./peers/async_support.ts";

const LONG = { timeout: 180_000 };
const WORKERS = 5;
/** Enough that the old race (most rounds leaked nothing) shows natively. */
const ENDING = EMULATED ? 6 : 20;

/** The descriptors fdpass could have made (and left), by kind. */
function fdpassKinds(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const target of openFds().values()) {
    const kind = target.startsWith("socket:")
      ? "socket"
      : target.startsWith("pipe:")
      ? "pipe"
      : target === "anon_inode:[eventpoll]" || target === "anon_inode:[eventfd]"
      ? target
      : undefined;
    if (kind !== undefined) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function describe(counts: Map<string, number>): string {
  return [...counts].sort().map(([k, n]) => `${k}: ${n}`).join(", ");
}

interface AnyWorker {
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: unknown) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

/** Runs one Worker of tests/peers/fdpass_worker.ts in `mode`, then terminates it. */
async function runWorker(
  mode: "plain" | "async" | "close-and-end",
): Promise<void> {
  const url = new URL("./peers/fdpass_worker.ts", import.meta.url).href;
  const WorkerClass = (globalThis as unknown as {
    Worker: new (url: string, options: { type: "module" }) => AnyWorker;
  }).Worker;
  // Deno Workers inherit the test's permissions (--allow-all).
  const worker = new WorkerClass(url, { type: "module" });
  try {
    const answer = await within(
      new Promise<string>((resolve, reject) => {
        worker.onmessage = (event) => resolve(String(event.data));
        worker.onerror = (event) => reject(event);
        worker.postMessage(mode);
      }),
      "the worker's answer",
      60_000,
    );
    assert.equal(answer, "done");
  } finally {
    worker.terminate();
  }
}

/**
 * Waits until the process holds no more descriptors of each kind than
 * `before` (fewer is fine: fdpass's own idle helper may end meanwhile).
 */
async function backTo(before: Map<string, number>): Promise<void> {
  const noMore = (now: Map<string, number>): boolean =>
    [...now].every(([kind, n]) => n <= (before.get(kind) ?? 0));
  await waitFor(
    `the descriptors to return to ${describe(before)}`,
    () => noMore(fdpassKinds()) ? true : undefined,
    60_000,
  ).catch((error) => {
    throw new Error(`${error.message}; now ${describe(fdpassKinds())}`);
  });
}

/** Runs `count` Workers in `mode` after a plain one; then none may be left. */
async function leaveNothing(
  count: number,
  mode: "async" | "close-and-end",
): Promise<void> {
  await warmUp();
  // What a runtime opens for its first Worker, with no fdpass in it.
  await runWorker("plain");
  const before = fdpassKinds();
  for (let i = 0; i < count; i++) await runWorker(mode);
  await backTo(before);
}

test(
  `${WORKERS} Workers that used fdpass asynchronously and ended leave no epoll, eventfd, pipe or socket descriptor behind (${RUNTIME})`,
  LONG,
  () => leaveNothing(WORKERS, "async"),
);

// In Bun the reactor's call is then in its helper Worker's poll(2), which a
// Worker's end stops too: before closeAfterCall waited for the helper, the
// wake pipe's read end it had to close leaked in some rounds.
test(
  `${ENDING} Workers that close their last waiting socket and end themselves in the same turn leave no descriptor behind (${RUNTIME})`,
  LONG,
  () => leaveNothing(ENDING, "close-and-end"),
);
