/**
 * Turns an adapter's raw symbols into the {@linkcode Libc} interface. Each
 * wrapper reads errno on the line after the call, before anything else runs.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import type { BlockingCalls, Libc, RuntimeName } from "./types.ts";

/** A bound C function as either runtime returns it. */
// deno-lint-ignore no-explicit-any
export type Native = (...args: any[]) => any;

/** Builds the {@linkcode Libc} interface over raw `symbols`. */
export function bindLibc(
  runtime: RuntimeName,
  platform: PlatformLayout,
  symbols: Record<string, Native>,
  readErrno: () => number,
  address: (view: ArrayBufferView) => number,
  blocking: (lib: Libc) => BlockingCalls,
  environment: (name: string) => string | undefined,
): Libc {
  const s = symbols;
  const { socket, socketpair, bind, listen, accept, connect, sendmsg } = s;
  const { recvmsg, close, shutdown, getsockopt, setsockopt } = s;
  const { getsockname, getpeername, fcntl, read, write, pipe, poll } = s;
  const { ioctl } = s;
  const {
    unlink,
    chmod,
    getpid,
    schedYield,
    epollCreate,
    epollCtl,
    epollWait,
    eventfd,
  } = s;
  const darwin = platform.os === "darwin";
  let calls: BlockingCalls | undefined;
  const lib: Libc = {
    runtime,
    platform,
    address,
    socket: (d, t, p) => {
      const r = socket!(d, t, p);
      return r < 0 ? -readErrno() : r;
    },
    socketpair: (d, t, p, fds) => {
      const r = socketpair!(d, t, p, fds);
      return r < 0 ? -readErrno() : r;
    },
    bind: (fd, a, l) => {
      const r = bind!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    listen: (fd, b) => {
      const r = listen!(fd, b);
      return r < 0 ? -readErrno() : r;
    },
    accept: (fd, flags) => {
      // macOS has no accept4; its sockets get no atomic close-on-exec.
      const r = darwin
        ? accept!(fd, null, null)
        : accept!(fd, null, null, flags);
      return r < 0 ? -readErrno() : r;
    },
    connect: (fd, a, l) => {
      const r = connect!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    sendmsg: (fd, m, f) => {
      const r = sendmsg!(fd, m, f);
      return r < 0 ? -readErrno() : r;
    },
    recvmsg: (fd, m, f) => {
      const r = recvmsg!(fd, m, f);
      return r < 0 ? -readErrno() : r;
    },
    close: (fd) => {
      const r = close!(fd);
      return r < 0 ? -readErrno() : r;
    },
    shutdown: (fd, how) => {
      const r = shutdown!(fd, how);
      return r < 0 ? -readErrno() : r;
    },
    getsockopt: (fd, level, name, value, length) => {
      const r = getsockopt!(fd, level, name, value, length);
      return r < 0 ? -readErrno() : r;
    },
    setsockopt: (fd, level, name, value, length) => {
      const r = setsockopt!(fd, level, name, value, length);
      return r < 0 ? -readErrno() : r;
    },
    getsockname: (fd, a, l) => {
      const r = getsockname!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    getpeername: (fd, a, l) => {
      const r = getpeername!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    fcntl: (fd, c, a) => {
      const r = fcntl!(fd, c, a);
      return r < 0 ? -readErrno() : r;
    },
    ioctl: (fd, request) => {
      const r = ioctl!(fd, request);
      return r < 0 ? -readErrno() : r;
    },
    read: (fd, b, l) => {
      const r = read!(fd, b, l);
      return r < 0 ? -readErrno() : r;
    },
    write: (fd, b, l) => {
      const r = write!(fd, b, l);
      return r < 0 ? -readErrno() : r;
    },
    pipe: (fds, flags) => {
      const r = darwin ? pipe!(fds) : pipe!(fds, flags);
      return r < 0 ? -readErrno() : r;
    },
    poll: (fds, n, t) => {
      const r = poll!(fds, n, t);
      return r < 0 ? -readErrno() : r;
    },
    unlink: (p) => {
      const r = unlink!(p);
      return r < 0 ? -readErrno() : r;
    },
    chmod: (p, mode) => {
      const r = chmod!(p, mode);
      return r < 0 ? -readErrno() : r;
    },
    getpid: () => getpid!(),
    schedYield: () => schedYield!(),
    epollCreate: (flags) => {
      const r = epollCreate!(flags);
      return r < 0 ? -readErrno() : r;
    },
    epollCtl: (epfd, op, fd, event) => {
      const r = epollCtl!(epfd, op, fd, event);
      return r < 0 ? -readErrno() : r;
    },
    epollWait: (epfd, events, max, timeout) => {
      const r = epollWait!(epfd, events, max, timeout);
      return r < 0 ? -readErrno() : r;
    },
    eventfd: (initial, flags) => {
      const r = eventfd!(initial, flags);
      return r < 0 ? -readErrno() : r;
    },
    environment,
    blocking: () => calls ??= blocking(lib),
  };
  return lib;
}
