/**
 * Internal: the epoll backend (Linux). Registrations are EPOLLONESHOT and
 * carry `fd | generation << 32`, so an event harvested before a socket was
 * closed can never wake a newer socket that reuses the number. Arming,
 * disarming and removal are `epoll_ctl` calls on the JS thread (it is
 * thread-safe), so cancelling or closing never has to wake the waiting
 * thread; only the last waiter leaving does, through the eventfd, so that
 * the epoll fd and the eventfd can be closed.
 *
 * @module
 */

import { type Libc, systemError } from "./_system.ts";
import type { BlockingCalls } from "./ffi/types.ts";
import type { EpollEventLayout } from "./platform/types.ts";
import { ReactorCore, type Registration } from "./_reactor_core.ts";

const MAX_EVENTS = 64;

export class EpollReactor extends ReactorCore {
  readonly backend = "epoll" as const;
  #epoll: EpollEventLayout;
  #calls: BlockingCalls;
  #epfd = -1;
  #wakeFd = -1;
  #woken = false;
  #event = new Uint8Array(new ArrayBuffer(16));
  #eventView = new DataView(this.#event.buffer);
  // Written by the other thread during a call; one call at a time.
  #events: Uint8Array;
  #eventsView: DataView;
  #drain = new Uint8Array(8);
  #one = new Uint8Array(new BigUint64Array([1n]).buffer);

  constructor(lib: Libc) {
    super(lib);
    const epoll = lib.platform.epollEvent;
    if (epoll === null) {
      throw new Error(`fdpass: ${lib.platform.os} has no epoll`);
    }
    this.#epoll = epoll;
    this.#calls = lib.blocking();
    this.#events = new Uint8Array(new ArrayBuffer(epoll.size * MAX_EVENTS));
    this.#eventsView = new DataView(this.#events.buffer);
  }

  protected acquire(): void {
    const lib = this.lib;
    const e = this.#epoll;
    const epfd = lib.epollCreate(e.EPOLL_CLOEXEC);
    if (epfd < 0) throw systemError(-epfd, "epoll_create1", "Cannot wait");
    const wakeFd = lib.eventfd(0, e.EFD_CLOEXEC | e.EFD_NONBLOCK);
    if (wakeFd < 0) {
      lib.close(epfd);
      throw systemError(-wakeFd, "eventfd", "Cannot wait");
    }
    this.#epfd = epfd;
    this.#wakeFd = wakeFd;
    this.#woken = false;
    try {
      // Generation 0 marks the wake eventfd; sockets start at 1.
      this.#control(e.EPOLL_CTL_ADD, wakeFd, e.EPOLLIN, 0);
    } catch (error) {
      this.release();
      throw error;
    }
  }

  protected release(): void {
    this.lib.close(this.#wakeFd);
    this.lib.close(this.#epfd);
    this.#wakeFd = -1;
    this.#epfd = -1;
  }

  protected arm(reg: Registration): void {
    const e = this.#epoll;
    const events = (reg.waiters[0] ? e.EPOLLIN | e.EPOLLRDHUP : 0) |
      (reg.waiters[1] ? e.EPOLLOUT : 0);
    if (events === 0 && !reg.added) return;
    const op = reg.added ? e.EPOLL_CTL_MOD : e.EPOLL_CTL_ADD;
    this.#control(op, reg.fd, events | e.EPOLLONESHOT, reg.generation);
    reg.added = true;
  }

  protected removed(reg: Registration): void {
    if (!reg.added) return;
    this.lib.epollCtl(
      this.#epfd,
      this.#epoll.EPOLL_CTL_DEL,
      reg.fd,
      this.#event,
    );
  }

  protected block(): Promise<number> {
    return this.#calls.epollWait(this.#epfd, this.#events, MAX_EVENTS);
  }

  protected interrupt(): void {
    if (this.#woken) return;
    this.#woken = true;
    this.lib.write(this.#wakeFd, this.#one, 8);
  }

  protected deliver(count: number): void {
    const e = this.#epoll;
    const view = this.#eventsView;
    const readable = e.EPOLLIN | e.EPOLLERR | e.EPOLLHUP | e.EPOLLRDHUP;
    const writable = e.EPOLLOUT | e.EPOLLERR | e.EPOLLHUP;
    for (let i = 0; i < count; i++) {
      const at = i * e.size;
      const flags = view.getUint32(at + e.events, true);
      const fd = view.getUint32(at + e.data, true);
      const generation = view.getUint32(at + e.data + 4, true);
      if (generation === 0) {
        if (fd === this.#wakeFd) {
          this.lib.read(this.#wakeFd, this.#drain, 8);
          this.#woken = false;
        }
        continue;
      }
      const reg = this.registrations.get(fd);
      if (reg === undefined || reg.generation !== generation) continue;
      // EPOLLONESHOT disarmed it; ready() re-arms for any waiter left.
      this.ready(
        reg,
        (flags & readable) !== 0,
        (flags & writable) !== 0,
      );
    }
  }

  #control(op: number, fd: number, events: number, generation: number): void {
    const view = this.#eventView;
    view.setUint32(this.#epoll.events, events >>> 0, true);
    view.setUint32(this.#epoll.data, fd, true);
    view.setUint32(this.#epoll.data + 4, generation, true);
    const r = this.lib.epollCtl(this.#epfd, op, fd, this.#event);
    if (r < 0) throw systemError(-r, "epoll_ctl", "Cannot wait for readiness");
  }
}
