/**
 * Internal: the epoll backend (Linux). Registrations are EPOLLONESHOT and
 * carry `fd | generation << 32`, so an event harvested before a socket was
 * closed can never wake a newer socket that reuses the number. Arming,
 * disarming and removal are `epoll_ctl` calls on the JS thread (it is
 * thread-safe), so cancelling or closing never has to wake the waiting
 * thread. That thread waits in poll(2) on the epoll fd (readable while an
 * event is ready) and the wake pipe, not in `epoll_wait`: poll holds its own
 * reference to both files, so the last registered fd leaving can close the
 * epoll fd and the pipe at once (see `_reactor_core.ts`); the events are
 * then harvested on the JS thread with `epoll_wait(…, 0)`.
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
  #pollfd: Uint8Array = new Uint8Array(0);
  #event = new Uint8Array(new ArrayBuffer(16));
  #eventView = new DataView(this.#event.buffer);
  #events: Uint8Array;
  #eventsView: DataView;

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
    const epfd = this.lib.epollCreate(this.#epoll.EPOLL_CLOEXEC);
    if (epfd < 0) throw systemError(-epfd, "epoll_create1", "Cannot wait");
    this.#epfd = epfd;
  }

  protected release(close: boolean): void {
    if (close) this.lib.close(this.#epfd);
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
    // A fresh array per call: the other thread reads and writes it.
    const p = this.lib.platform.pollfd;
    const fds = new Uint8Array(new ArrayBuffer(2 * p.size));
    const view = new DataView(fds.buffer);
    view.setInt32(p.fd, this.#epfd, true);
    view.setInt16(p.events, p.POLLIN, true);
    view.setInt32(p.size + p.fd, this.wakeFd, true);
    view.setInt16(p.size + p.events, p.POLLIN, true);
    this.#pollfd = fds;
    return this.#calls.poll(fds, 2);
  }

  protected deliver(result: number): void {
    if (result <= 0) return;
    const lib = this.lib;
    const p = lib.platform.pollfd;
    const view = new DataView(this.#pollfd.buffer);
    if (!this.wakeHeard(view.getInt16(p.size + p.revents, true))) return;
    const revents = view.getInt16(p.revents, true);
    if (revents === 0) return;
    // Closed behind the reactor's back (POLLNVAL, EBADF), or its number now
    // names another file (EINVAL): polling it again would return at once.
    const lost = (errno: number, syscall: string) =>
      this.lost(errno, syscall, this.#epfd, "its epoll descriptor");
    if ((revents & p.POLLNVAL) !== 0) {
      return lost(lib.platform.errno.EBADF, "poll");
    }
    const count = lib.epollWait(this.#epfd, this.#events, MAX_EVENTS, 0);
    if (count < 0 && -count !== lib.platform.errno.EINTR) {
      return lost(-count, "epoll_wait");
    }
    if (count <= 0) return;
    const e = this.#epoll;
    const events = this.#eventsView;
    const readable = e.EPOLLIN | e.EPOLLERR | e.EPOLLHUP | e.EPOLLRDHUP;
    const writable = e.EPOLLOUT | e.EPOLLERR | e.EPOLLHUP;
    for (let i = 0; i < count; i++) {
      const at = i * e.size;
      const flags = events.getUint32(at + e.events, true);
      const fd = events.getUint32(at + e.data, true);
      const generation = events.getUint32(at + e.data + 4, true);
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
