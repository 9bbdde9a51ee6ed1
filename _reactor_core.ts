/**
 * Internal: what both reactor backends share. Waiters per fd and direction,
 * cancellation, and the lifecycle: the backend's descriptors are opened by
 * the first waiter and closed as soon as none is left and no blocking call
 * is outstanding, so nothing outlives the last wait (no runtime tells a
 * Worker it is about to end). One blocking call at a time runs off the JS
 * thread ({@linkcode BlockingCalls}); a backend interrupts it through its
 * wake descriptor when the last waiter leaves or (poll) the set changes.
 *
 * @module
 */

import type { Libc } from "./ffi/types.ts";

/** 0: wait until readable, 1: until writable. */
export type Direction = 0 | 1;

/** One pending wait. */
export interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One fd the reactor knows. A new object per registration: a result that
 * names an older object (or an older generation) is stale and dropped, so a
 * closed fd's number, reused by a new socket, never wakes the new one.
 */
export interface Registration {
  readonly fd: number;
  readonly generation: number;
  /** epoll: in the kernel's set. */
  added: boolean;
  readonly waiters: [Waiter | undefined, Waiter | undefined];
}

/** The reactor's bookkeeping; a backend supplies the kernel side. */
export abstract class ReactorCore {
  protected readonly lib: Libc;
  protected readonly registrations: Map<number, Registration> = new Map();
  #waiting = 0;
  #nextGeneration = 1;
  #open = false;
  #inFlight = false;

  constructor(lib: Libc) {
    this.lib = lib;
  }

  /** Opens the backend's descriptors (the first waiter after idle). */
  protected abstract acquire(): void;
  /** Closes them; never called while a blocking call is outstanding. */
  protected abstract release(): void;
  /** Brings the kernel's view of `reg` in line with its waiters. */
  protected abstract arm(reg: Registration): void;
  /** `reg` leaves the reactor (its fd is about to be closed). */
  protected abstract removed(reg: Registration): void;
  /** One blocking call; resolves with its raw result. */
  protected abstract block(): Promise<number>;
  /** Hands the result of {@linkcode ReactorCore.block} out to waiters. */
  protected abstract deliver(result: number): void;
  /** Ends an outstanding blocking call soon (idempotent until it returns). */
  protected abstract interrupt(): void;

  /** Whether a blocking call is outstanding. */
  protected get inFlight(): boolean {
    return this.#inFlight;
  }

  wait(fd: number, direction: Direction, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (!this.#open) {
        try {
          this.acquire();
        } catch (error) {
          reject(error);
          return;
        }
        this.#open = true;
      }
      let reg = this.registrations.get(fd);
      if (reg === undefined) {
        reg = {
          fd,
          generation: this.#nextGeneration++,
          added: false,
          waiters: [undefined, undefined],
        };
        this.registrations.set(fd, reg);
      }
      if (reg.waiters[direction] !== undefined) {
        reject(
          new Error("fdpass: internal error: two waiters on one direction"),
        );
        this.#idle();
        return;
      }
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      reg.waiters[direction] = waiter;
      this.#waiting++;
      const r = reg;
      try {
        this.arm(r);
      } catch (error) {
        r.waiters[direction] = undefined;
        this.#settled(waiter);
        reject(error);
        this.#idle();
        return;
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (r.waiters[direction] !== waiter) return;
          r.waiters[direction] = undefined;
          if (this.registrations.get(r.fd) === r) this.arm(r);
          this.#settled(waiter);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      if (this.#waiting === 1 && !this.#inFlight) void this.#run();
    });
  }

  forget(fd: number, error: unknown): void {
    const reg = this.registrations.get(fd);
    if (reg === undefined) return;
    this.registrations.delete(fd);
    this.removed(reg);
    for (let d = 0; d < 2; d++) {
      const waiter = reg.waiters[d];
      if (waiter === undefined) continue;
      reg.waiters[d] = undefined;
      this.#settled(waiter);
      waiter.reject(error);
    }
  }

  /** Resolves the waiters of `reg` that are ready, if `reg` is still current. */
  protected ready(
    reg: Registration,
    readable: boolean,
    writable: boolean,
  ): void {
    if (this.registrations.get(reg.fd) !== reg) return;
    const read = readable ? reg.waiters[0] : undefined;
    const write = writable ? reg.waiters[1] : undefined;
    if (read !== undefined) reg.waiters[0] = undefined;
    if (write !== undefined) reg.waiters[1] = undefined;
    // epoll's oneshot disarmed the fd even if no waiter was ready.
    if (reg.waiters[0] !== undefined || reg.waiters[1] !== undefined) {
      this.arm(reg);
    }
    if (read !== undefined) {
      this.#settled(read);
      read.resolve();
    }
    if (write !== undefined) {
      this.#settled(write);
      write.resolve();
    }
  }

  /** Whether anything waits. */
  protected get waiting(): number {
    return this.#waiting;
  }

  #settled(waiter: Waiter): void {
    if (waiter.onAbort !== undefined) {
      waiter.signal!.removeEventListener("abort", waiter.onAbort);
    }
    this.#waiting--;
    if (this.#waiting === 0) {
      // A blocking call in flight keeps the process alive and the
      // descriptors open: end it; the loop then closes them.
      if (this.#inFlight) this.interrupt();
    }
  }

  /** Closes the descriptors when nothing waits and nothing is in flight. */
  #idle(): void {
    if (this.#waiting !== 0 || this.#inFlight || !this.#open) return;
    this.#open = false;
    this.registrations.clear();
    this.release();
  }

  async #run(): Promise<void> {
    while (this.#waiting > 0) {
      this.#inFlight = true;
      let result: number;
      try {
        result = await this.block();
      } catch {
        result = -1; // as a failed call: waited again
      } finally {
        this.#inFlight = false;
      }
      this.deliver(result);
    }
    this.#idle();
  }
}
