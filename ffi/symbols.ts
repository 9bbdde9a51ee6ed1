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
  | "i64"
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
  /** Bound by the Deno adapter alone (Bun has `ptr()` and `read`). */
  readonly denoOnly?: boolean;
  /**
   * The C library may lack it (glibc before 2.33 has no `fstat` symbol):
   * binding still succeeds and the wrapper answers `-ENOSYS`.
   */
  readonly optional?: boolean;
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
  // int dup3(int oldfd, int newfd, int flags)
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // long syscall(long number, ...), for int fstatat(int dirfd, const char
  // *path, struct stat *buf, int flags): glibc exports fstatat only from
  // 2.33. Variadic, passed in registers like fixed arguments (as fcntl).
  fstatat: {
    parameters: ["usize", "i32", "buffer", "buffer", "i32"],
    result: "i32",
    name: "syscall",
  },
  // int memfd_create(const char *name, unsigned int flags) (glibc 2.27+)
  memfdCreate: {
    parameters: ["buffer", "u32"],
    result: "i32",
    name: "memfd_create",
    optional: true,
  },
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
    // ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
    readv: {
      parameters: ["i32", "buffer", "i32"],
      result: "i32",
      denoOnly: true,
    },
    // ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
    writev: {
      parameters: ["i32", "buffer", "i32"],
      result: "i32",
      denoOnly: true,
    },
    // ssize_t recv(int fd, void *buf, size_t len, int flags)
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
    // ssize_t send(int fd, const void *buf, size_t len, int flags)
    send: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
    // ssize_t pread(int fd, void *buf, size_t count, off_t offset)
    pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "i32" },
    // ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
    pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "i32" },
    // off_t lseek(int fd, off_t offset, int whence)
    lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
    // int ftruncate(int fd, off_t length)
    ftruncate: { parameters: ["i32", "i64"], result: "i32" },
    // int fstat(int fd, struct stat *st). macOS exports the 64-bit-inode
    // struct as fstat64 on both CPUs (plain fstat is the old one on Intel).
    fstat: {
      parameters: ["i32", "buffer"],
      result: "i32",
      name: darwin ? "fstat64" : "fstat",
      optional: true,
    },
    // int pipe2(int fds[2], int flags); macOS: int pipe(int fds[2])
    pipe: darwin
      ? { parameters: ["buffer"], result: "i32" }
      : { parameters: ["buffer", "i32"], result: "i32", name: "pipe2" },
    // int poll(struct pollfd *fds, nfds_t n, int timeout). `n` is bound as
    // u32: Deno's FFI has no fast path for a 64-bit parameter, and a 32-bit
    // one is exact everywhere: nfds_t is unsigned int on macOS, and where it
    // is unsigned long (Linux, FreeBSD) the kernel's poll and ppoll take an
    // unsigned int, so only the low half of the register ever counts.
    poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
    // int dup(int fd)
    dup: { parameters: ["i32"], result: "i32" },
    // int dup2(int oldfd, int newfd)
    dup2: { parameters: ["i32", "i32"], result: "i32" },
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
    // char *getenv(const char *name)
    getenv: { parameters: ["buffer"], result: "pointer" },
    // int unsetenv(const char *name)
    unsetenv: { parameters: ["buffer"], result: "i32" },
    // size_t strlen(const char *s): with memcpy (copyFrom, below) reads a C
    // string without the runtime's pointer views (Deno; Bun reads
    // process.env instead).
    strlen: { parameters: ["pointer"], result: "usize" },
    ...(os === "linux" ? LINUX_ONLY : {}),
    // Deno under a scoped --allow-ffi=PATH may call the library but not read
    // pointers: void *memmove(void *dest, const void *src, size_t n) with
    // n = 0 returns dest, a buffer's address; void *memcpy(void *dest,
    // const void *src, size_t n) reads errno through its pointer.
    addressOf: {
      parameters: ["buffer", "buffer", "usize"],
      result: "usize",
      name: "memmove",
      denoOnly: true,
    },
    copyFrom: {
      parameters: ["buffer", "pointer", "usize"],
      result: "pointer",
      name: "memcpy",
      denoOnly: true,
    },
    // int *__errno_location(void) (glibc, musl); int *__error(void) (BSDs)
    errno: {
      parameters: [],
      result: "pointer",
      name: os === "linux" ? "__errno_location" : "__error",
    },
  };
}

/**
 * Where the C library may be, tried in order: absolute paths first, so that a
 * sandbox can allow exactly one file (`deno run --allow-ffi=PATH`; Deno
 * matches the path as written and resolves a bare name against the working
 * directory), then bare names for the dynamic loader's own search (NixOS,
 * qemu-user's `-L` prefix, other layouts). A path that does not exist, or
 * holds another architecture's library, fails to open and the next is tried.
 */
export function libcNames(os: OperatingSystem, arch: string): string[] {
  switch (os) {
    case "linux":
      return [
        `/lib/${arch}-linux-gnu/libc.so.6`, // Debian, Ubuntu (multiarch)
        `/usr/lib/${arch}-linux-gnu/libc.so.6`,
        "/lib64/libc.so.6", // Fedora, RHEL, openSUSE
        "/usr/lib64/libc.so.6",
        "/usr/lib/libc.so.6", // Arch Linux
        `/lib/ld-musl-${arch}.so.1`, // Alpine (musl: libc is the loader)
        "libc.so.6",
        `libc.musl-${arch}.so.1`,
        "libc.so",
      ];
    case "darwin":
      return ["/usr/lib/libSystem.B.dylib"];
    case "freebsd":
      return ["/lib/libc.so.7", "libc.so.7"];
  }
}
