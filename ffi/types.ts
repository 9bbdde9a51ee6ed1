/**
 * The narrow, runtime-neutral libc interface the socket classes use. Every
 * call returns its C result when that is not negative and `-errno` otherwise;
 * adapters read errno on the calling thread straight after the call, before
 * anything else can run.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";

/** Which runtime an adapter binds through. */
export type RuntimeName = "bun" | "deno";

/**
 * Runs one blocking `poll(2)` at a time off the JS thread: in Deno on its
 * blocking pool (a `nonblocking` FFI call), in Bun in a helper Worker. While
 * a call is outstanding it keeps the process alive; otherwise it lets the
 * process exit. Both reactor backends wait through it (epoll's through its
 * epoll fd).
 */
export interface BlockingCalls {
  /**
   * `poll(fds, count, -1)`; each `revents` is in `fds` when it resolves with
   * the raw C result (negative on any error: errno is not available). `fds`
   * must not be touched until then: the other thread reads and writes it.
   */
  poll(fds: Uint8Array, count: number): Promise<number>;
  /**
   * Closes `fd`, a descriptor the outstanding call may still name; the
   * caller has already made that call return at once (the wake pipe's
   * write end is closed). Only a Bun Worker waits for the other thread
   * (within a second), and a Worker that ends right after leaves nothing.
   * Bun cancels a call its helper has not taken yet, and has the helper
   * close `fd` itself when it has, once its poll returns (the number stays
   * taken until then; a Worker waits for that, since its end stops the
   * helper too), so no call ever reads a reused number; Deno's pool thread
   * cannot be asked: on the main thread `fd` is closed once the call
   * settles, and in a Worker now, where a call that had not entered poll(2)
   * may watch whatever took the number until its bound (a second) ends it
   * (see ffi/deno.ts and ffi/bun.ts).
   */
  closeAfterCall(fd: number): void;
}

/** libc as fdpass uses it. Buffers are passed by address for the call only. */
export interface Libc {
  readonly runtime: RuntimeName;
  readonly platform: PlatformLayout;
  /**
   * Whether this is the process's main thread, not a Worker: a Worker may
   * end without running JS again, and what it holds must be closed at once.
   */
  readonly mainThread: boolean;
  /**
   * The address of `view`'s first byte, for embedding in a struct. `view`
   * must not be empty: the caller has just read its length (above 0)
   * through the engine's own getter, with nothing run since, so the view is
   * not detached. The caller keeps `view` reachable while the address is
   * used.
   */
  address(view: ArrayBufferView): number;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(
    domain: number,
    type: number,
    protocol: number,
    fds: Int32Array,
  ): number;
  bind(fd: number, address: Uint8Array, length: number): number;
  listen(fd: number, backlog: number): number;
  /** accept4 where the platform has it; `flags` take SOCK_CLOEXEC/SOCK_NONBLOCK. */
  accept(fd: number, flags: number): number;
  connect(fd: number, address: Uint8Array, length: number): number;
  sendmsg(fd: number, msghdr: Uint8Array, flags: number): number;
  recvmsg(fd: number, msghdr: Uint8Array, flags: number): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint32Array,
  ): number;
  setsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: number,
  ): number;
  getsockname(fd: number, address: Uint8Array, length: Uint32Array): number;
  getpeername(fd: number, address: Uint8Array, length: Uint32Array): number;
  /** fcntl with one int argument (F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC). */
  fcntl(fd: number, command: number, argument: number): number;
  /** ioctl with a request that takes no argument (FIOCLEX). */
  ioctl(fd: number, request: number): number;
  read(fd: number, buffer: Uint8Array, length: number): number;
  write(fd: number, buffer: Uint8Array, length: number): number;
  /** `recv(2)`: flags such as `MSG_DONTWAIT` make one call nonblocking. */
  recv(fd: number, buffer: Uint8Array, length: number, flags: number): number;
  /** `send(2)`, as {@linkcode Libc.recv}. */
  send(fd: number, buffer: Uint8Array, length: number, flags: number): number;
  /** `pread(2)`; `offset` a safe non-negative integer. */
  pread(fd: number, buffer: Uint8Array, length: number, offset: number): number;
  /** `pwrite(2)`; `offset` a safe non-negative integer. */
  pwrite(
    fd: number,
    buffer: Uint8Array,
    length: number,
    offset: number,
  ): number;
  /** `lseek(2)`: the new offset (a safe integer), or `-errno`. */
  lseek(fd: number, offset: number, whence: number): number;
  /** `ftruncate(2)`; `length` a safe non-negative integer. */
  ftruncate(fd: number, length: number): number;
  /** `fstat(2)` into `buffer` (`platform.stat.size` bytes); `-ENOSYS` where libc lacks it. */
  fstat(fd: number, buffer: Uint8Array): number;
  /** Linux only: `memfd_create(2)`, NUL-terminated name; `-ENOSYS` where libc lacks it. */
  memfdCreate(name: Uint8Array, flags: number): number;
  pipe(fds: Int32Array, flags: number): number;
  /** `struct pollfd[]` in `fds`; timeout in ms, -1 waits forever. */
  poll(fds: Uint8Array, count: number, timeout: number): number;
  /** A copy of `fd` at the lowest free number (inheritable). */
  dup(fd: number): number;
  /** `newfd` becomes a copy of `fd` (whatever it was is closed first). */
  dup2(fd: number, newfd: number): number;
  /** NUL-terminated path bytes. */
  unlink(path: Uint8Array): number;
  /** NUL-terminated path bytes; `mode` as in chmod(2). */
  chmod(path: Uint8Array, mode: number): number;
  getpid(): number;
  /**
   * The environment variable `name` as this runtime's programs see it (Bun:
   * `process.env`; Deno: the C environment, which `Deno.env` reads as well),
   * read without asking for any permission.
   */
  getenv(name: string): string | undefined;
  /**
   * Removes `name` from the environment (and, in Bun, from `process.env`), so
   * that child processes do not inherit it; -errno on failure.
   */
  unsetenv(name: string): number;
  /** Lets another runnable thread on this CPU go first. */
  schedYield(): number;
  /** Linux only (like the six below). */
  epollCreate(flags: number): number;
  epollCtl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  epollWait(
    epfd: number,
    events: Uint8Array,
    max: number,
    timeout: number,
  ): number;
  eventfd(initial: number, flags: number): number;
  /** dup2 with `flags` (`O_CLOEXEC`) applied atomically. */
  dup3(fd: number, newfd: number, flags: number): number;
  /**
   * `fstatat(AT_FDCWD, path, stat, AT_SYMLINK_NOFOLLOW)` (Linux, through
   * `syscall`): NUL-terminated `path`, `stat` of `platform.stat.size`.
   */
  fstatat(path: Uint8Array, stat: Uint8Array): number;
  /**
   * The environment variable `name`, or `undefined` when it is unset or
   * cannot be read without asking (Deno without `--allow-env` for it).
   */
  environment(name: string): string | undefined;
  /** The blocking readiness calls, set up on first use. */
  blocking(): BlockingCalls;
}
