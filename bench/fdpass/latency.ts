// Cancellation latency of a parked receive (Bun and Deno): the time from
// `controller.abort()`, or from `close()`, to the rejection handler of a
// pending `receive` on a socket nobody writes to. Before each try the
// receive waits <park_ms>, long past the library's spin phase, so it is
// parked in the reactor (epoll) and cancelling takes the reactor's path.
// One receive is pending per try, as in a program that waits on one socket.
// Usage: <runtime> latency.ts <tries> <park_ms> [floor]
// Prints {"abort_us":[...],"close_us":[...]} (per try, in order; the first
// try of each is the cold one). With "floor", no socket: a plain promise
// that an abort listener rejects, timed the same way, which is what the
// runtime's own AbortSignal costs (its `close_us` is empty).
import { ClosedError, socketPair } from "../../mod.ts";
import type { UnixSocket } from "../../mod.ts";
import { intArg, round, scriptArgs, sleep } from "./_common.ts";

const args = scriptArgs();
const tries = intArg(args, 0, 100);
const parkMs = intArg(args, 1, 20);
const floor = args[2] === "floor";
const buffer = new Uint8Array(64);

/** The floor: µs from `abort()` to the handler of a promise its listener rejects. */
async function floorOnce(): Promise<number> {
  const controller = new AbortController();
  const signal = controller.signal;
  let rejectedAt = 0;
  const outcome = new Promise<void>((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), {
      once: true,
    });
  }).then(undefined, () => {
    rejectedAt = performance.now();
  });
  await sleep(parkMs);
  const t0 = performance.now();
  controller.abort();
  await outcome;
  return (rejectedAt - t0) * 1000;
}

/** Parks a receive on `socket`, runs `cancel`, returns µs to rejection. */
async function once(
  socket: UnixSocket,
  signal: AbortSignal | undefined,
  cancel: () => void,
  expected: (error: unknown) => boolean,
): Promise<number> {
  let settled = false;
  let rejectedAt = 0;
  let reason: unknown;
  const outcome = socket.receive(buffer, signal ? { signal } : {}).then(
    () => {
      settled = true;
    },
    (error: unknown) => {
      rejectedAt = performance.now();
      settled = true;
      reason = error;
    },
  );
  await sleep(parkMs);
  if (settled) throw new Error("the receive settled before it was cancelled");
  const t0 = performance.now();
  cancel();
  await outcome;
  if (rejectedAt === 0) throw new Error("the receive resolved, not rejected");
  if (!expected(reason)) {
    throw new Error(`unexpected rejection: ${String(reason)}`);
  }
  return (rejectedAt - t0) * 1000;
}

const abortUs: number[] = [];
const closeUs: number[] = [];
if (floor) {
  for (let i = 0; i < tries; i++) abortUs.push(await floorOnce());
} else {
  await measureFdpass();
}

async function measureFdpass(): Promise<void> {
  const [a, b] = socketPair();
  for (let i = 0; i < tries; i++) {
    const controller = new AbortController();
    abortUs.push(
      await once(
        b,
        controller.signal,
        () => controller.abort(),
        (reason) => reason === controller.signal.reason,
      ),
    );
  }
  a.close();
  b.close();

  for (let i = 0; i < tries; i++) {
    const [x, y] = socketPair();
    closeUs.push(
      await once(
        y,
        undefined,
        () => y.close(),
        (r) => r instanceof ClosedError,
      ),
    );
    x.close();
  }
}

console.log(JSON.stringify({
  park_ms: parkMs,
  abort_us: abortUs.map((v) => round(v, 1)),
  close_us: closeUs.map((v) => round(v, 1)),
}));
