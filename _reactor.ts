/**
 * Internal: one readiness reactor per thread, behind one interface with two
 * backends. Sockets stay blocking for the sync API; async operations try
 * their syscall with MSG_DONTWAIT and only on EAGAIN wait here.
 *
 * - epoll (Linux, the default there): `_epoll_reactor.ts`.
 * - poll(2) (macOS and FreeBSD, and Linux with `FDPASS_REACTOR=poll`):
 *   `_poll_reactor.ts`.
 *
 * Both hold kernel descriptors only while some fd that has waited is still
 * open (see `_reactor_core.ts`): a Worker (or a process) that has closed its
 * sockets leaves none behind, since neither runtime tells a Worker that it
 * is about to end.
 *
 * @module
 */

import { libc } from "./_system.ts";
import { EpollReactor } from "./_epoll_reactor.ts";
import { PollReactor } from "./_poll_reactor.ts";

export type { Direction } from "./_reactor_core.ts";
import type { Direction } from "./_reactor_core.ts";

/** Waits for readiness of an fd; the backend is chosen once per thread. */
export interface Reactor {
  /**
   * Resolves once `fd` is ready in `direction` (or has an error or hang-up
   * the next syscall will report). Rejects with `signal.reason` on abort and
   * with the error given to {@linkcode Reactor.forget} on close. A
   * resolution may be spurious: the caller retries its syscall.
   */
  wait(fd: number, direction: Direction, signal?: AbortSignal): Promise<void>;
  /** Drops `fd` before it is closed and rejects its waiters with `error`. */
  forget(fd: number, error: () => unknown): void;
  /** `"epoll"` or `"poll"`. */
  readonly backend: ReactorBackend;
}

/** The readiness backends. */
export type ReactorBackend = "epoll" | "poll";

let instance: Reactor | undefined;

/**
 * The backend this thread uses: `FDPASS_REACTOR` (`poll` or `epoll`) where
 * it is set and may be read without a prompt, else epoll where it exists
 * and poll elsewhere. Read once, by the first {@linkcode Reactor.get}.
 */
export function reactorBackend(): ReactorBackend {
  const lib = libc();
  const chosen = lib.environment("FDPASS_REACTOR");
  if (chosen === "poll") return "poll";
  if (chosen === "epoll" && lib.platform.epollEvent !== null) return "epoll";
  return lib.platform.epollEvent !== null ? "epoll" : "poll";
}

/** The thread's reactor, created on first use. */
export const Reactor: { get(): Reactor } = {
  get(): Reactor {
    if (instance !== undefined) return instance;
    const lib = libc();
    return instance = reactorBackend() === "poll"
      ? new PollReactor(lib)
      : new EpollReactor(lib);
  },
};
