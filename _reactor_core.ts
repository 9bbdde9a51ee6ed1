/**
 * Internal: what both reactor backends share. Waiters per fd and direction,
 * cancellation, and the lifecycle: the backend's descriptors are opened by
 * the first waiter and closed the moment none is left, even while a
 * blocking call is outstanding, so nothing outlives the last wait (no
 * runtime tells a Worker that it is about to end). That is safe because the
 * one blocking call, which runs off the JS thread (`BlockingCalls` in ffi/types.ts),
 * is always a poll(2) whose set holds the read end of a wake pipe: closing
 * the write end ends the call (POLLHUP), and a poll in progress holds its
 * own reference to each file, so the numbers can be closed and reused at
 * once. A result that comes back after its descriptors were closed is
 * dropped whole (epochs), and within an epoch a result counts only for the
 * registration it was armed for.
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
  #epoch = 0;
  #running = false;
  #inFlight = false;

  constructor(lib: Libc) {
    this.lib = lib;
  }

  /** Opens the backend's descriptors (the first waiter after idle). */
  protected abstract acquire(): void;
  /**
   * Closes them, the write end of the wake pipe first: that ends an
   * outstanding call, which keeps its own references to the files.
   */
  protected abstract release(): void;
  /** Brings the kernel's view of `reg` in line with its waiters. */
  protected abstract arm(reg: Registration): void;
  /** `reg` leaves the reactor (its fd is about to be closed). */
  protected abstract removed(reg: Registration): void;
  /** One blocking call; resolves with its raw result. */
  protected abstract block(): Promise<number>;
  /** Hands the result of {@linkcode ReactorCore.block} out to waiters. */
  protected abstract deliver(result: number): void;
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
        this.#epoch++;
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
      if (!this.#running) void this.#run();
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
    this.#idle();
  }

  /** Closes the descriptors as soon as nothing waits. */
  #idle(): void {
    if (this.#waiting !== 0 || !this.#open) return;
    this.#open = false;
    this.#epoch++;
    this.registrations.clear();
    this.release();
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#waiting > 0) {
      const epoch = this.#epoch;
      this.#inFlight = true;
      let result: number;
      try {
        result = await this.block();
      } catch {
        result = -1; // as a failed call: waited again
      } finally {
        this.#inFlight = false;
      }
      // A call that outlived its descriptors reports on closed numbers.
      if (epoch === this.#epoch) this.deliver(result);
    }
    this.#running = false;
  }
}
