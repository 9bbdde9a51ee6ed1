/**
 * Internal: what both reactor backends share. Waiters per fd and direction,
 * cancellation, the wake pipe, and the lifecycle.
 *
 * The one blocking call, which runs off the JS thread (`BlockingCalls` in
 * ffi/types.ts), is always a poll(2) whose set holds the read end of a wake
 * pipe: one byte written to it ends the call (when the set changes, and
 * when the last waiter leaves, so that an idle process can exit), and
 * closing the write end ends it too (POLLHUP). A poll in progress holds its
 * own reference to each file in its set, so the descriptors can be closed
 * while it runs and their numbers reused at once; a result that comes back
 * after that is dropped whole (epochs), and within an epoch a result counts
 * only for the registration it was armed for. A call whose set was handed
 * to another thread but has not entered poll(2) yet would read the numbers
 * afresh: see `closeAfterCall` in ffi/types.ts for how each runtime keeps
 * that from watching someone else's descriptors for long.
 *
 * The descriptors live as long as some fd is registered: opened by the
 * first wait, closed when the last registered fd is forgotten (closed by its
 * owner). No runtime tells a Worker that it is about to end, so a Worker
 * that has closed its sockets holds none of the reactor's descriptors
 * either: there they close at once. The main thread closes them on the next
 * turn instead, unless something waits again by then: closing them wakes
 * the other thread, which would delay the caller of `close()` and the
 * rejections it causes (~100 us measured here); a process that exits takes
 * them with it. A socket that keeps talking keeps them: a ping-pong never
 * reopens them.
 *
 * @module
 */

import { abortReason, isAborted, offAbort, onAbort } from "./_signal.ts";
import { systemError } from "./_system.ts";
import type { Libc } from "./ffi/types.ts";

/** The next event-loop turn: `setImmediate` (Deno has it from 2.4 on; before, a timer serves). */
export const later: (callback: () => void) => unknown =
  typeof setImmediate === "function"
    ? setImmediate
    : (callback) => setTimeout(callback, 0);

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
  #readFd = -1;
  #writeFd = -1;
  #woken = false;
  #pipe = new Int32Array(2);
  #byte = new Uint8Array(1);
  #interruptQueued = false;
  #closeQueued = false;
  /** Aborted waits whose kernel side waits for the next turn. */
  #aborted: [Registration, Waiter][] = [];
  /** What {@linkcode ReactorCore.lost} found, until the delivery returns. */
  #lost: unknown = undefined;

  constructor(lib: Libc) {
    this.lib = lib;
  }

  /** Opens the backend's own descriptors, if any. */
  protected abstract acquire(): void;
  /**
   * Closes them (possibly while a call is outstanding: see above), or with
   * `close` false forgets them unclosed (see {@linkcode ReactorCore.lost}).
   */
  protected abstract release(close: boolean): void;
  /** Brings the kernel's view of `reg` in line with its waiters. */
  protected abstract arm(reg: Registration): void;
  /** `reg` leaves the reactor (its fd is about to be closed). */
  protected abstract removed(reg: Registration): void;
  /** One blocking call, with {@linkcode ReactorCore.wakeFd} in its set. */
  protected abstract block(): Promise<number>;
  /** Hands the result of {@linkcode ReactorCore.block} out to waiters. */
  protected abstract deliver(result: number): void;

  /** Whether a blocking call is outstanding. */
  protected get inFlight(): boolean {
    return this.#inFlight;
  }

  /** The read end of the wake pipe, for the blocking call's set. */
  protected get wakeFd(): number {
    return this.#readFd;
  }

  /** Ends an outstanding call soon; the next one sees the current set. */
  protected interrupt(): void {
    if (!this.#open || !this.#inFlight || this.#woken) return;
    this.#woken = true;
    // At most one byte is ever in the pipe, so the write cannot block.
    this.#byte[0] = 1;
    this.lib.write(this.#writeFd, this.#byte, 1);
  }

  /**
   * Reads the wake pipe's `revents` in a result of the current epoch and
   * takes the wake byte if there is one; `false` if the pipe is lost. Only
   * the byte {@linkcode ReactorCore.interrupt} wrote makes it readable, and
   * only the reactor closes its ends (in a new epoch): anything else means
   * its read end was closed (POLLNVAL) or replaced (input it never wrote),
   * or its write end closed (POLLHUP), behind its back.
   */
  protected wakeHeard(revents: number): boolean {
    const p = this.lib.platform.pollfd;
    const errno = this.lib.platform.errno;
    const gone = (revents & (p.POLLNVAL | p.POLLHUP | p.POLLERR)) !== 0;
    const input = (revents & p.POLLIN) !== 0;
    if (gone || (input && !this.#woken)) {
      const code = gone ? errno.EBADF : errno.EINVAL;
      this.lost(code, "poll", this.#readFd, "its wake pipe");
      return false;
    }
    if (input) {
      this.lib.read(this.#readFd, this.#byte, 1);
      this.#woken = false;
    }
    return true;
  }

  /**
   * The reactor's own `fd` (`role`: its wake pipe, or the backend's own)
   * no longer works (`syscall` reported `errno`): code that closes numbers
   * it does not own (a loop over every descriptor above 2, say) closed or
   * replaced it. Once the delivery returns, every waiter hears a
   * `SystemError` that says so and every registration is dropped (their
   * kernel side may have gone with it). The reactor's descriptors are
   * neither closed nor used again: whatever closed one may have closed them
   * all, and any of them may name someone else's file by then. The next
   * wait opens new ones.
   */
  protected lost(
    errno: number,
    syscall: string,
    fd: number,
    role: string,
  ): void {
    this.#lost ??= systemError(
      errno,
      syscall,
      `Cannot wait: the reactor's fd ${fd} (${role}) was closed or replaced behind its back`,
    );
  }

  wait(fd: number, direction: Direction, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (isAborted(signal)) {
        reject(abortReason(signal!));
        return;
      }
      try {
        this.#openIfClosed();
      } catch (error) {
        reject(error);
        return;
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
        return;
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (r.waiters[direction] !== waiter) return;
          r.waiters[direction] = undefined;
          reject(abortReason(signal));
          this.#afterAbort(r, waiter);
        };
        onAbort(signal, waiter.onAbort);
      }
      if (!this.#running) void this.#run();
    });
  }

  forget(fd: number, error: () => unknown): void {
    const reg = this.registrations.get(fd);
    if (reg === undefined) return;
    this.registrations.delete(fd);
    this.removed(reg);
    if (reg.waiters[0] !== undefined || reg.waiters[1] !== undefined) {
      this.#failAll(reg, error());
    }
    if (this.registrations.size === 0) {
      if (this.lib.mainThread) this.#closeLater();
      else this.#close();
    }
  }

  /** Closes on the next turn if nothing is registered by then. */
  #closeLater(): void {
    if (this.#closeQueued) return;
    this.#closeQueued = true;
    later(() => {
      this.#closeQueued = false;
      if (this.registrations.size === 0) this.#close();
    });
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
    // epoll's oneshot disarmed the fd even if no waiter was ready. Re-arming
    // fails when the number no longer names what was registered (closed or
    // replaced behind fdpass's back): the waiter left hears that, rather
    // than the call that delivered every other socket's readiness.
    if (reg.waiters[0] !== undefined || reg.waiters[1] !== undefined) {
      try {
        this.arm(reg);
      } catch (error) {
        this.#failAll(reg, error);
      }
    }
    if (read !== undefined) this.#wake(read);
    if (write !== undefined) this.#wake(write);
  }

  /**
   * Settles a ready waiter. A signal that aborted has removed its waiter
   * already; one fdpass no longer reads (its prototype was changed) counts
   * as aborted here, where its listener could not report it.
   */
  #wake(waiter: Waiter): void {
    this.#settled(waiter);
    const signal = waiter.signal;
    if (signal !== undefined && isAborted(signal)) {
      waiter.reject(abortReason(signal));
    } else {
      waiter.resolve();
    }
  }

  /**
   * The kernel side of an abort, on the next turn: the caller hears of the
   * abort first. Re-arming is a syscall and ending the blocking call wakes
   * another thread, which on a busy machine can take the CPU from this one
   * for hundreds of microseconds before the rejection is seen (measured in
   * Bun). Until then the fd may still be reported ready; with no waiter
   * left, that report is dropped.
   */
  #afterAbort(reg: Registration, waiter: Waiter): void {
    this.#aborted.push([reg, waiter]);
    if (this.#aborted.length > 1) return;
    later(() => {
      const aborted = this.#aborted;
      this.#aborted = [];
      for (const [r, w] of aborted) {
        if (this.registrations.get(r.fd) === r) {
          try {
            this.arm(r);
          } catch (error) {
            // Nothing left to tell the aborted one: the fd's other waiter
            // (the other direction) hears instead of waiting forever.
            this.#failAll(r, error);
          }
        }
        this.#settled(w);
      }
    });
  }

  #failAll(reg: Registration, error: unknown): void {
    for (let d = 0; d < 2; d++) {
      const waiter = reg.waiters[d];
      if (waiter === undefined) continue;
      reg.waiters[d] = undefined;
      this.#settled(waiter);
      waiter.reject(error);
    }
  }

  #settled(waiter: Waiter): void {
    if (waiter.onAbort !== undefined) {
      offAbort(waiter.signal!, waiter.onAbort);
    }
    this.#waiting--;
    // An outstanding call keeps the process alive: end it, on the next turn
    // (see #afterAbort), unless something waits again by then.
    if (this.#waiting === 0 && this.#inFlight && !this.#interruptQueued) {
      this.#interruptQueued = true;
      later(() => {
        this.#interruptQueued = false;
        if (this.#waiting === 0) this.interrupt();
      });
    }
  }

  #openIfClosed(): void {
    if (this.#open) return;
    const lib = this.lib;
    const r = lib.pipe(this.#pipe, lib.platform.constants.O_CLOEXEC);
    if (r < 0) throw systemError(-r, "pipe", "Cannot wait");
    this.#readFd = this.#pipe[0]!;
    this.#writeFd = this.#pipe[1]!;
    try {
      this.acquire();
    } catch (error) {
      lib.close(this.#writeFd);
      lib.close(this.#readFd);
      throw error;
    }
    this.#woken = false;
    this.#open = true;
    this.#epoch++;
  }

  /** Closes every descriptor, the write end first: it ends a call in flight. */
  #close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#epoch++;
    this.lib.close(this.#writeFd);
    // A call in flight had its set handed to another thread, which may not
    // have entered poll(2) yet: closeAfterCall() keeps it from reading the
    // numbers' next owners where the runtime allows (Bun: that thread closes
    // the read end once its poll returns; Deno's main thread: once the call
    // settles), and elsewhere (a Deno Worker) the call's bound of a second
    // limits that to a delay of the next call. Only a Bun Worker waits for
    // the other thread (briefly: its end would stop the helper), and nothing
    // is left behind a Worker that ends.
    if (this.#inFlight) this.lib.blocking().closeAfterCall(this.#readFd);
    else this.lib.close(this.#readFd);
    this.#writeFd = this.#readFd = -1;
    this.release(true);
  }

  async #run(): Promise<void> {
    this.#running = true;
    // Closed: nothing is registered, and the set would be empty. (An aborted
    // wait still counts until its next turn, see #afterAbort.)
    while (this.#waiting > 0 && this.#open) {
      const epoch = this.#epoch;
      this.#inFlight = true;
      let result: number;
      try {
        result = await this.block();
      } catch (error) {
        // The runtime could not make the call (a helper thread that failed
        // to start): every waiter hears why, rather than waiting for a call
        // that would fail again at once.
        this.#inFlight = false;
        this.#failEveryone(error);
        break;
      }
      this.#inFlight = false;
      // A call that outlived its descriptors reports on closed numbers.
      if (epoch === this.#epoch) this.deliver(result);
      if (this.#lost !== undefined) {
        this.#abandon();
        break;
      }
    }
    this.#running = false;
  }

  /** What {@linkcode ReactorCore.lost} announced: see there. */
  #abandon(): void {
    const error = this.#lost;
    this.#lost = undefined;
    this.#failEveryone(error);
    this.registrations.clear();
    this.#open = false;
    this.#epoch++;
    this.#writeFd = this.#readFd = -1;
    this.release(false);
  }

  #failEveryone(error: unknown): void {
    for (const reg of [...this.registrations.values()]) {
      this.#failAll(reg, error);
    }
  }
}
