/**
 * One symbol table for both adapters, in a neutral vocabulary, with the C
 * prototype beside each entry. `ssize_t` results are declared `i32`: every
 * call fdpass makes moves at most 2^31-1 bytes, and a 32-bit result avoids
 * BigInt on the hot path in Deno.
 *
 * @module
 */

import type { OperatingSystem } from "../platform/types.ts";

/** Argument and result types both adapters can map. */
export type NeutralType =
  | "i32"
  | "u32"
  | "usize"
  | "buffer"
  | "pointer"
  | "void";

/** One C function: parameter types and result type. */
export interface SymbolSpec {
  readonly parameters: readonly NeutralType[];
  readonly result: NeutralType;
  /** The exported name, where it differs from the table key. */
  readonly name?: string;
  /** Deno only: run on a blocking thread and return a Promise (errno is lost). */
  readonly nonblocking?: boolean;
}

/** The symbols fdpass binds, keyed by the name the adapters expose. */
export type SymbolTable = Readonly<Record<string, SymbolSpec>>;

const LINUX_ONLY: SymbolTable = {
  // int epoll_create1(int flags)
  epollCreate: { parameters: ["i32"], result: "i32", name: "epoll_create1" },
  // int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
  epollCtl: {
    parameters: ["i32", "i32", "i32", "buffer"],
    result: "i32",
    name: "epoll_ctl",
  },
  // int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
  epollWait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    name: "epoll_wait",
  },
  // int eventfd(unsigned int initval, int flags)
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
};

/** The libc symbol table for `os`. */
export function libcSymbols(os: OperatingSystem): SymbolTable {
  const darwin = os === "darwin";
  return {
    // int socket(int domain, int type, int protocol)
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    // int socketpair(int domain, int type, int protocol, int sv[2])
    socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    // int bind(int fd, const struct sockaddr *addr, socklen_t len)
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    // int listen(int fd, int backlog)
    listen: { parameters: ["i32", "i32"], result: "i32" },
    // int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
    // macOS has no accept4: int accept(int fd, struct sockaddr *addr, socklen_t *len)
    accept: darwin
      ? { parameters: ["i32", "buffer", "buffer"], result: "i32" }
      : {
        parameters: ["i32", "buffer", "buffer", "i32"],
        result: "i32",
        name: "accept4",
      },
    // int connect(int fd, const struct sockaddr *addr, socklen_t len)
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    // ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
    sendmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    // ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
    recvmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    // int close(int fd)
    close: { parameters: ["i32"], result: "i32" },
    // int shutdown(int fd, int how)
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    // int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
    getsockopt: {
      parameters: ["i32", "i32", "i32", "buffer", "buffer"],
      result: "i32",
    },
    // int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
    setsockopt: {
      parameters: ["i32", "i32", "i32", "buffer", "u32"],
      result: "i32",
    },
    // int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    // int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
    getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    // int fcntl(int fd, int cmd, ...): variadic; bound with one int argument,
    // which Linux and FreeBSD pass in a register like a fixed one. Apple arm64
    // passes variadics on the stack, so fdpass never calls it there.
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    // int ioctl(int fd, unsigned long request, ...): bound with no variadic
    // argument, for requests that take none (FIOCLEX), so that it is called
    // correctly on Apple arm64 too, where variadics go on the stack.
    ioctl: { parameters: ["i32", "usize"], result: "i32" },
    // ssize_t read(int fd, void *buf, size_t count)
    read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
    // ssize_t write(int fd, const void *buf, size_t count)
    write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
    // int pipe2(int fds[2], int flags); macOS: int pipe(int fds[2])
    pipe: darwin
      ? { parameters: ["buffer"], result: "i32" }
      : { parameters: ["buffer", "i32"], result: "i32", name: "pipe2" },
    // int poll(struct pollfd *fds, nfds_t n, int timeout)
    poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
    // The same, on Deno's blocking pool: the reactor keeps one call
    // outstanding while anything waits for readiness.
    pollAsync: {
      parameters: ["buffer", "usize", "i32"],
      result: "i32",
      name: "poll",
      nonblocking: true,
    },
    // int unlink(const char *path)
    unlink: { parameters: ["buffer"], result: "i32" },
    // int chmod(const char *path, mode_t mode): mode_t is 32-bit on Linux and
    // FreeBSD, 16-bit on macOS, passed zero-extended in a register either way.
    chmod: { parameters: ["buffer", "u32"], result: "i32" },
    // int sched_yield(void)
    schedYield: { parameters: [], result: "i32", name: "sched_yield" },
    // pid_t getpid(void)
    getpid: { parameters: [], result: "i32" },
    ...(os === "linux" ? LINUX_ONLY : {}),
    // int *__errno_location(void) (glibc, musl); int *__error(void) (BSDs)
    errno: {
      parameters: [],
      result: "pointer",
      name: os === "linux" ? "__errno_location" : "__error",
    },
  };
}

/** Candidate names of the C library for `os`, tried in order. */
export function libcNames(os: OperatingSystem, arch: string): string[] {
  switch (os) {
    case "linux":
      return ["libc.so.6", `libc.musl-${arch}.so.1`, "libc.so"];
    case "darwin":
      return ["/usr/lib/libSystem.B.dylib"];
    case "freebsd":
      return ["libc.so.7"];
  }
}
