/**
 * Internal: one readiness reactor per process. Sockets stay blocking for the
 * sync API; async operations try their syscall with MSG_DONTWAIT and only on
 * EAGAIN wait here. Registrations are EPOLLONESHOT and carry
 * `fd | generation << 32`, so an event harvested before a socket was closed
 * can never wake a newer socket that reuses the number. Arming, disarming and
 * removal are `epoll_ctl` calls on the main thread (it is thread-safe), so
 * cancelling or closing never has to wake the waiting thread.
 *
 * @module
 */

import { type Libc, libc, systemError } from "./_system.ts";
import type { EpollPump } from "./ffi/types.ts";
import type { EpollEventLayout } from "./platform/types.ts";

/** 0: wait until readable, 1: until writable. */
export type Direction = 0 | 1;

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Registration {
  readonly fd: number;
  readonly generation: number;
  added: boolean;
  readonly waiters: [Waiter | undefined, Waiter | undefined];
}

let instance: Reactor | undefined;

export class Reactor {
  #lib: Libc;
  #epoll: EpollEventLayout;
  #epfd: number;
  #wakeFd: number;
  #pump: EpollPump;
  #registrations = new Map<number, Registration>();
  #waiting = 0;
  #nextGeneration = 1;
  #event: Uint8Array;
  #eventView: DataView;
  #drain = new Uint8Array(8);

  /** The process's reactor, created on first use. */
  static get(): Reactor {
    return instance ??= new Reactor(libc());
  }

  private constructor(lib: Libc) {
    const epoll = lib.platform.epollEvent;
    if (epoll === null) {
      throw new Error(
        `fdpass: async operations need epoll, which ${lib.platform.os} lacks (kqueue support is designed for but not built); use the Sync methods`,
      );
    }
    this.#lib = lib;
    this.#epoll = epoll;
    this.#event = new Uint8Array(new ArrayBuffer(16));
    this.#eventView = new DataView(this.#event.buffer);
    const epfd = lib.epollCreate(epoll.EPOLL_CLOEXEC);
    if (epfd < 0) throw systemError(-epfd, "epoll_create1", "Cannot wait");
    const wakeFd = lib.eventfd(0, epoll.EFD_CLOEXEC | epoll.EFD_NONBLOCK);
    if (wakeFd < 0) {
      lib.close(epfd);
      throw systemError(-wakeFd, "eventfd", "Cannot wait");
    }
    this.#epfd = epfd;
    this.#wakeFd = wakeFd;
    // Generation 0 marks the wake eventfd; sockets start at 1.
    this.#control(epoll.EPOLL_CTL_ADD, wakeFd, epoll.EPOLLIN, 0);
    this.#pump = lib.epollPump(
      epfd,
      wakeFd,
      (events, count) => this.#deliver(events, count),
    );
  }

  /**
   * Resolves once `fd` is ready in `direction` (or has an error or hang-up
   * the next syscall will report). Rejects with `signal.reason` on abort and
   * with the error given to {@linkcode Reactor.forget} on close.
   */
  wait(fd: number, direction: Direction, signal?: AbortSignal): Promise<void> {
    let registration = this.#registrations.get(fd);
    if (registration === undefined) {
      registration = {
        fd,
        generation: this.#nextGeneration++,
        added: false,
        waiters: [undefined, undefined],
      };
      this.#registrations.set(fd, registration);
    }
    const reg = registration;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (reg.waiters[direction] !== undefined) {
        reject(
          new Error("fdpass: internal error: two waiters on one direction"),
        );
        return;
      }
      reg.waiters[direction] = waiter;
      this.#waiting++;
      if (this.#waiting === 1) this.#pump.resume();
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (reg.waiters[direction] !== waiter) return;
          reg.waiters[direction] = undefined;
          this.#settled(waiter);
          if (this.#registrations.get(reg.fd) === reg) this.#arm(reg);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      try {
        this.#arm(reg);
      } catch (error) {
        reg.waiters[direction] = undefined;
        this.#settled(waiter);
        reject(error);
      }
    });
  }

  /**
   * Removes `fd` from the epoll set before it is closed and rejects its
   * waiters with `error`.
   */
  forget(fd: number, error: unknown): void {
    const reg = this.#registrations.get(fd);
    if (reg === undefined) return;
    this.#registrations.delete(fd);
    if (reg.added) {
      this.#lib.epollCtl(
        this.#epfd,
        this.#epoll.EPOLL_CTL_DEL,
        fd,
        this.#event,
      );
    }
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
      waiter.signal!.removeEventListener("abort", waiter.onAbort);
    }
    this.#waiting--;
    if (this.#waiting === 0) this.#pump.pause();
  }

  #arm(reg: Registration): void {
    const e = this.#epoll;
    const events = (reg.waiters[0] ? e.EPOLLIN | e.EPOLLRDHUP : 0) |
      (reg.waiters[1] ? e.EPOLLOUT : 0);
    if (events === 0 && !reg.added) return;
    const op = reg.added ? e.EPOLL_CTL_MOD : e.EPOLL_CTL_ADD;
    this.#control(op, reg.fd, events | e.EPOLLONESHOT, reg.generation);
    reg.added = true;
  }

  #control(op: number, fd: number, events: number, generation: number): void {
    const view = this.#eventView;
    view.setUint32(this.#epoll.events, events >>> 0, true);
    view.setUint32(this.#epoll.data, fd, true);
    view.setUint32(this.#epoll.data + 4, generation, true);
    const r = this.#lib.epollCtl(this.#epfd, op, fd, this.#event);
    if (r < 0) throw systemError(-r, "epoll_ctl", "Cannot wait for readiness");
  }

  #deliver(events: Uint8Array, count: number): void {
    const e = this.#epoll;
    const view = new DataView(
      events.buffer,
      events.byteOffset,
      events.byteLength,
    );
    const readable = e.EPOLLIN | e.EPOLLERR | e.EPOLLHUP | e.EPOLLRDHUP;
    const writable = e.EPOLLOUT | e.EPOLLERR | e.EPOLLHUP;
    for (let i = 0; i < count; i++) {
      const at = i * e.size;
      const flags = view.getUint32(at + e.events, true);
      const fd = view.getUint32(at + e.data, true);
      const generation = view.getUint32(at + e.data + 4, true);
      if (generation === 0) {
        if (fd === this.#wakeFd) this.#lib.read(this.#wakeFd, this.#drain, 8);
        continue;
      }
      const reg = this.#registrations.get(fd);
      if (reg === undefined || reg.generation !== generation) continue;
      // EPOLLONESHOT disarmed it; re-arm below for any waiter left.
      const ready: Waiter[] = [];
      if ((flags & readable) !== 0 && reg.waiters[0] !== undefined) {
        ready.push(reg.waiters[0]);
        reg.waiters[0] = undefined;
      }
      if ((flags & writable) !== 0 && reg.waiters[1] !== undefined) {
        ready.push(reg.waiters[1]);
        reg.waiters[1] = undefined;
      }
      if (reg.waiters[0] !== undefined || reg.waiters[1] !== undefined) {
        this.#arm(reg);
      }
      for (const waiter of ready) {
        this.#settled(waiter);
        waiter.resolve();
      }
    }
  }
}
