/**
 * Internal: how every async operation of fdpass waits. An operation tries
 * its syscall without blocking; when the descriptor is not ready it asks
 * {@linkcode waitReady} what to do next and tries again. The answer, by
 * attempt number:
 *
 * 1. `undefined` (retry at once) for the first {@linkcode YIELD_RETRIES}
 *    attempts, each after a `sched_yield`: on a shared CPU the peer may be
 *    runnable and only waiting for us to give the CPU up;
 * 2. one event-loop turn (`setImmediate`) for the next
 *    {@linkcode SPIN_TURNS}: a peer that answers within microseconds is
 *    caught without the reactor's thread hop, while other tasks still run;
 * 3. then the process's one epoll {@linkcode Reactor}, which costs nothing
 *    while the descriptor stays idle.
 *
 * {@linkcode park} skips the first two steps, for waits that are long by
 * nature (a listener waiting for a connection).
 *
 * At most {@linkcode MAX_SPINNING} operations spin at once; the rest park in
 * the reactor straight away. The spin and yield state is process-wide, so it
 * lives here and nowhere else.
 *
 * Contract for callers (`UnixSocket`, `UnixListener`, `OwnedFd`, and any
 * other listener):
 * - re-check that the descriptor is still open after every wait (a spin
 *   turn does not notice `close()`; the reactor rejects at once);
 * - call {@linkcode forget} before closing (or giving away) a descriptor
 *   that may have waited here, so a pending wait rejects and a later
 *   descriptor reusing the number never sees the old registration;
 * - report each try's outcome with {@linkcode noteTry}, which tunes the
 *   yield policy.
 *
 * @module
 */

import { type Direction, Reactor } from "./_reactor.ts";
import { later } from "./_reactor_core.ts";
import { abortReason, isAborted } from "./_signal.ts";
import { libc } from "./_system.ts";

export type { Direction };

/**
 * Event-loop turns an async operation retries its syscall before it arms the
 * reactor. A peer that answers within a few microseconds is then caught
 * without the reactor's thread hop (a Worker message in Bun, a pool thread
 * in Deno), which halves round trips; other tasks still run between turns,
 * and a descriptor that stays idle costs nothing once the turns are spent.
 */
export const SPIN_TURNS = 32;

/** Immediate retries (each after `sched_yield`) before the first turn. */
export const YIELD_RETRIES = 2;

/**
 * Operations spinning at most at once. Past them an operation waits in the
 * reactor at once: a thousand sockets spinning would cost a thousand
 * syscalls a turn for nothing.
 */
export const MAX_SPINNING = 8;

/** Operations spinning right now: one pending `setImmediate` each. */
let spinning = 0;

/** The reactor, once anything has waited in it. */
let reactor: Reactor | undefined;

const immediate = later;

function spin(signal: AbortSignal | undefined): Promise<void> {
  spinning++;
  return new Promise((resolve, reject) => {
    immediate(() => {
      spinning--;
      if (isAborted(signal)) reject(abortReason(signal!));
      else resolve();
    });
  });
}

/** When fdpass last gave up the CPU, in `performance.now()` ms. */
let lastYield = -Infinity;
/** Whether the try right after that yield found its peer had answered. */
let lastYieldUseful = false;
let yieldUnchecked = false;

/**
 * `sched_yield` when it has been paying off, else at most once a
 * millisecond: on a busy CPU each yield can cost a whole time slice, and a
 * thousand sockets arming at once must not each give one away.
 */
export function maybeYield(): void {
  // While yields pay off the clock is not read (in Deno a read costs
  // ~100 ns, a receive's worth of checks): the streak's end stamps it.
  if (!lastYieldUseful) {
    const now = performance.now();
    if (now - lastYield < 1) return;
    lastYield = now;
  }
  yieldUnchecked = true;
  libc().schedYield();
}

/** Records whether a try succeeded (only the first try after a yield counts). */
export function noteTry(succeeded: boolean): void {
  if (!yieldUnchecked) return;
  yieldUnchecked = false;
  // A streak of useful yields ends: that yield was just now.
  if (lastYieldUseful && !succeeded) lastYield = performance.now();
  lastYieldUseful = succeeded;
}

/**
 * What to do after try number `attempt` (0, 1, ...) found `fd` not ready in
 * `direction` (0 readable, 1 writable): `undefined` means try again at once;
 * otherwise await the promise, then try again. It rejects with
 * `signal.reason` on abort and with the error given to {@linkcode forget}
 * when the descriptor is closed.
 *
 * @throws {SystemError} `EPERM` from `epoll_ctl` for a descriptor epoll
 * cannot watch (regular files, block devices): callers never get here for
 * those, since they are always ready.
 */
export function waitReady(
  fd: number,
  direction: Direction,
  signal: AbortSignal | undefined,
  attempt: number,
): Promise<void> | undefined {
  if (attempt < YIELD_RETRIES + SPIN_TURNS && spinning < MAX_SPINNING) {
    // On a shared CPU the peer may be runnable but waiting for us.
    maybeYield();
    if (attempt < YIELD_RETRIES) return undefined;
    return spin(signal);
  }
  return park(fd, direction, signal);
}

/**
 * Waits in the reactor straight away, without spinning: for operations
 * whose peer is not about to answer within microseconds (accepting a
 * connection). Rejects as {@linkcode waitReady}'s promise does.
 */
export function park(
  fd: number,
  direction: Direction,
  signal: AbortSignal | undefined,
): Promise<void> {
  reactor ??= Reactor.get();
  return reactor.wait(fd, direction, signal);
}

/**
 * Takes `fd` out of the reactor before it is closed or handed to another
 * owner, rejecting its pending waits with `error`. A no-op for a descriptor
 * that never waited.
 */
export function forget(fd: number, error: () => unknown): void {
  reactor?.forget(fd, error);
}
