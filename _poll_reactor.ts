/**
 * Internal: the poll(2) backend, the default where epoll is missing (macOS,
 * FreeBSD) and chosen on Linux by `FDPASS_REACTOR=poll`. `struct pollfd` and
 * the POLL* bits are the same on all three, so this is the code those
 * systems run.
 *
 * poll has no `epoll_ctl`: the set is an array handed to one blocking call.
 * Whenever the set changes while a call is outstanding (a new waiter, an
 * abort, a close), one byte written to the wake pipe, whose read end is
 * slot 0, ends the call, and the next call gets the new set.
 * Each call's array is built fresh and never touched again by this thread
 * until the call returns; beside it the reactor keeps the registration each
 * slot stood for, and a result counts only if that registration is still
 * the fd's current one. A closed fd whose number was reused by a new socket
 * has a new registration, so a stale result never wakes the new socket.
 * Closing an fd always interrupts the call: a poll in progress holds a
 * reference to every file in its set, which would keep a closed socket
 * alive (its peer would see no end of stream) until the call returned.
 *
 * @module
 */

import type { Libc } from "./_system.ts";
import type { BlockingCalls } from "./ffi/types.ts";
import type { PollfdLayout } from "./platform/types.ts";
import { ReactorCore, type Registration } from "./_reactor_core.ts";

export class PollReactor extends ReactorCore {
  readonly backend = "poll" as const;
  #poll: PollfdLayout;
  #calls: BlockingCalls;
  #fds = new Uint8Array(0);
  #slots: Registration[] = [];

  constructor(lib: Libc) {
    super(lib);
    this.#poll = lib.platform.pollfd;
    this.#calls = lib.blocking();
  }

  protected acquire(): void {}

  protected release(_close: boolean): void {
    this.#slots = [];
  }

  protected arm(_reg: Registration): void {
    this.interrupt();
  }

  protected removed(_reg: Registration): void {
    this.interrupt();
  }

  protected block(): Promise<number> {
    const p = this.#poll;
    const slots: Registration[] = [];
    for (const reg of this.registrations.values()) {
      if (reg.waiters[0] !== undefined || reg.waiters[1] !== undefined) {
        slots.push(reg);
      }
    }
    const count = slots.length + 1;
    // A fresh array per call: the other thread reads and writes it until
    // the call returns.
    const fds = new Uint8Array(new ArrayBuffer(count * p.size));
    const view = new DataView(fds.buffer);
    view.setInt32(p.fd, this.wakeFd, true);
    view.setInt16(p.events, p.POLLIN, true);
    for (let i = 0; i < slots.length; i++) {
      const reg = slots[i]!;
      const at = (i + 1) * p.size;
      view.setInt32(at + p.fd, reg.fd, true);
      view.setInt16(
        at + p.events,
        (reg.waiters[0] ? p.POLLIN : 0) | (reg.waiters[1] ? p.POLLOUT : 0),
        true,
      );
    }
    this.#fds = fds;
    this.#slots = slots;
    return this.#calls.poll(fds, count);
  }

  protected deliver(result: number): void {
    if (result <= 0) return;
    const p = this.#poll;
    const view = new DataView(this.#fds.buffer);
    const always = p.POLLERR | p.POLLHUP | p.POLLNVAL;
    const readable = p.POLLIN | always;
    const writable = p.POLLOUT | always;
    if (!this.wakeHeard(view.getInt16(p.revents, true))) return;
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const revents = view.getInt16((i + 1) * p.size + p.revents, true);
      if (revents === 0) continue;
      this.ready(
        slots[i]!,
        (revents & readable) !== 0,
        (revents & writable) !== 0,
      );
    }
  }
}
