/**
 * Every platform profile checked against the tables of
 * `shared/research/semantics.md`, with the expected numbers written out here
 * rather than computed by the code under test. Pure data: no FFI, no syscall.
 *
 * Values that semantics.md does not list (SO_TYPE, F_*, O_*, POLL*, EPOLL*,
 * most errno numbers) come from the headers it cites as sources: Linux
 * `include/uapi/asm-generic/{socket,fcntl,errno-base,errno}.h`, `sys/epoll.h`,
 * `sys/eventfd.h`; xnu `bsd/sys/{socket,fcntl,errno,poll}.h`; FreeBSD
 * `sys/sys/{socket,fcntl,errno,poll}.h`. The Linux ones are also compared with
 * the running machine's headers by libc_layout_test.ts.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cmsgAlign,
  cmsgData,
  cmsgLen,
  cmsgSpace,
  decodeSockaddrUn,
  encodeIovec,
  encodeMsghdr,
  encodeRights,
  encodeSockaddrUn,
  ERRNO_DESCRIPTIONS,
  errnoNames,
  platformFor,
  type PlatformLayout,
  PLATFORMS,
  readControllen,
  readMsgFlags,
  rightsSpace,
} from "../platform/mod.ts";

type Family = "linux" | "darwin" | "freebsd";

function familyOf(layout: PlatformLayout): Family {
  return layout.os;
}

/** "44 33 | 22 11" -> bytes; anything but hex digit pairs is a separator. */
function hex(text: string): Uint8Array {
  const pairs = text.match(/[0-9a-f]{2}/gi) ?? [];
  return Uint8Array.from(pairs, (pair) => parseInt(pair, 16));
}

/** A buffer of `size` bytes all set to 0xEE, so untouched bytes stay visible. */
function dirty(size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size).fill(0xee);
  return { bytes, view: new DataView(bytes.buffer) };
}

// --- semantics.md §1.2 (glibc), §1.3 (musl), §1.4 (macOS), §1.5 (FreeBSD) ---

const MSGHDR = {
  // §1.1/§1.2: 56 bytes; size_t msg_iovlen and msg_controllen; musl's int+pad
  // occupies the same 8 bytes (§1.3).
  linux: {
    size: 56,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    iovlenSize: 8,
    control: 32,
    controllen: 40,
    controllenSize: 8,
    flags: 48,
  },
  // §1.4 table; §1.5 "the msghdr layout is identical to macOS".
  darwin: {
    size: 48,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    iovlenSize: 4,
    control: 32,
    controllen: 40,
    controllenSize: 4,
    flags: 44,
  },
  freebsd: {
    size: 48,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    iovlenSize: 4,
    control: 32,
    controllen: 40,
    controllenSize: 4,
    flags: 44,
  },
} as const;

const CMSGHDR = {
  // §1.2: 16 bytes, size_t cmsg_len, CMSG_ALIGN to 8, CMSG_DATA = cmsg + 16.
  linux: { size: 16, lenSize: 8, level: 8, type: 12, dataOffset: 16, align: 8 },
  // §1.4: 12 bytes, __DARWIN_ALIGN32 rounds to 4, data at 12.
  darwin: { size: 12, lenSize: 4, level: 4, type: 8, dataOffset: 12, align: 4 },
  // §1.5: 12 bytes, _ALIGN rounds to 8, data at 16.
  freebsd: {
    size: 12,
    lenSize: 4,
    level: 4,
    type: 8,
    dataOffset: 16,
    align: 8,
  },
} as const;

const SOCKADDR_UN = {
  // §2 "sockaddr_un and naming": 110 bytes, u16 family at 0, sun_path[108] at 2.
  linux: {
    size: 110,
    len: -1,
    family: 0,
    familySize: 2,
    path: 2,
    pathSize: 108,
    abstract: true,
  },
  // §1.4/§1.5: u8 sun_len, u8 sun_family, char sun_path[104]: 106 bytes.
  darwin: {
    size: 106,
    len: 0,
    family: 1,
    familySize: 1,
    path: 2,
    pathSize: 104,
    abstract: false,
  },
  freebsd: {
    size: 106,
    len: 0,
    family: 1,
    familySize: 1,
    path: 2,
    pathSize: 104,
    abstract: false,
  },
} as const;

// Linux sys/epoll.h and sys/eventfd.h; async.md "Limits": struct epoll_event is
// packed (12 bytes) on x86_64 only, 16 bytes with data at 8 elsewhere.
const EPOLL_CONSTANTS = {
  EPOLLIN: 0x1,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLLRDHUP: 0x2000,
  EPOLLONESHOT: 0x40000000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CTL_MOD: 3,
  EPOLL_CLOEXEC: 0x80000,
  EFD_CLOEXEC: 0x80000,
  EFD_NONBLOCK: 0x800,
};

// struct pollfd { int fd; short events; short revents; } and the POLL* bits:
// Linux include/uapi/asm-generic/poll.h, xnu bsd/sys/poll.h, FreeBSD
// sys/sys/poll.h all define POLLIN 0x1, POLLOUT 0x4, POLLERR 0x8, POLLHUP
// 0x10, POLLNVAL 0x20 (and poll(2) on each reports the last three unasked).
const POLLFD = {
  size: 8,
  fd: 0,
  events: 4,
  revents: 6,
  POLLIN: 0x1,
  POLLOUT: 0x4,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLNVAL: 0x20,
};

const EPOLL_EVENT: Record<string, object | null> = {
  "linux-x86_64": { size: 12, events: 0, data: 4, ...EPOLL_CONSTANTS },
  "linux-aarch64": { size: 16, events: 0, data: 8, ...EPOLL_CONSTANTS },
  "darwin-x86_64": null,
  "darwin-aarch64": null,
  "freebsd-x86_64": null,
  "freebsd-aarch64": null,
};

// §2 SO_PEERCRED row: Linux SO_PEERCRED (17) at SOL_SOCKET fills struct ucred
// {pid, uid, gid}; macOS and FreeBSD LOCAL_PEERCRED (1) at SOL_LOCAL (0) fill
// struct xucred {u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t
// cr_groups[16];}: uid at 4, groups from 12, 76 bytes. macOS gives the pid
// through LOCAL_PEERPID (2). FreeBSD 13+ appends a pointer-sized union with
// cr_pid at 80 (88 bytes; sys/sys/ucred.h, listed as unverified in §6).
const PEER_CREDENTIALS = {
  linux: { level: 1, name: 17, size: 12, pid: 0, uid: 4, gid: 8, pidOption: 0 },
  darwin: {
    level: 0,
    name: 1,
    size: 76,
    pid: -1,
    uid: 4,
    gid: 12,
    pidOption: 2,
  },
  freebsd: {
    level: 0,
    name: 1,
    size: 88,
    pid: 80,
    uid: 4,
    gid: 12,
    pidOption: 0,
  },
} as const;

// §2 constant table; 0 where the table says "none" or "–".
// SEEK_* (unistd.h) and S_IF* (sys/stat.h): the same numbers on all three.
const FILE_CONSTANTS = {
  SEEK_SET: 0,
  SEEK_CUR: 1,
  SEEK_END: 2,
  S_IFMT: 0o170000,
  S_IFIFO: 0o010000,
  S_IFCHR: 0o020000,
  S_IFDIR: 0o040000,
  S_IFBLK: 0o060000,
  S_IFREG: 0o100000,
  S_IFLNK: 0o120000,
  S_IFSOCK: 0o140000,
} as const;

const NO_MEMFD = {
  MFD_CLOEXEC: 0,
  MFD_ALLOW_SEALING: 0,
  F_ADD_SEALS: 0,
  F_GET_SEALS: 0,
  F_SEAL_SEAL: 0,
  F_SEAL_SHRINK: 0,
  F_SEAL_GROW: 0,
  F_SEAL_WRITE: 0,
  F_SEAL_FUTURE_WRITE: 0,
} as const;

/**
 * `struct stat` as [offset, size] per field, from Linux
 * `arch/x86/include/uapi/asm/stat.h` and `include/uapi/asm-generic/stat.h`
 * (aarch64), xnu `bsd/sys/stat.h` (`struct stat64`) and FreeBSD 12+
 * `sys/sys/stat.h`; times as the offset of their `struct timespec`.
 */
const STAT: Record<string, Record<string, unknown>> = {
  "linux-x86_64": {
    size: 144,
    dev: [0, 8],
    ino: [8, 8],
    nlink: [16, 8],
    mode: [24, 4],
    uid: [28, 4],
    gid: [32, 4],
    rdev: [40, 8],
    fileSize: [48, 8],
    blksize: [56, 8],
    blocks: [64, 8],
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
  "linux-aarch64": {
    size: 128,
    dev: [0, 8],
    ino: [8, 8],
    mode: [16, 4],
    nlink: [20, 4],
    uid: [24, 4],
    gid: [28, 4],
    rdev: [32, 8],
    fileSize: [48, 8],
    blksize: [56, 4],
    blocks: [64, 8],
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
  darwin: {
    size: 144,
    dev: [0, 4],
    mode: [4, 2],
    nlink: [6, 2],
    ino: [8, 8],
    uid: [16, 4],
    gid: [20, 4],
    rdev: [24, 4],
    atime: 32,
    mtime: 48,
    ctime: 64,
    fileSize: [96, 8],
    blocks: [104, 8],
    blksize: [112, 4],
  },
  freebsd: {
    size: 224,
    dev: [0, 8],
    ino: [8, 8],
    nlink: [16, 8],
    mode: [24, 2],
    uid: [28, 4],
    gid: [32, 4],
    rdev: [40, 8],
    atime: 48,
    mtime: 64,
    ctime: 80,
    fileSize: [112, 8],
    blocks: [120, 8],
    blksize: [128, 4],
  },
};

const CONSTANTS = {
  linux: {
    AF_UNIX: 1,
    SOCK_STREAM: 1,
    SOCK_DGRAM: 2,
    SOCK_SEQPACKET: 5,
    SOCK_NONBLOCK: 2048,
    SOCK_CLOEXEC: 524288,
    SOL_SOCKET: 1,
    SCM_RIGHTS: 1,
    SCM_CREDENTIALS: 2,
    SCM_PIDFD: 4,
    SO_TYPE: 3,
    SO_ERROR: 4,
    SO_SNDBUF: 7,
    SO_RCVBUF: 8,
    SO_PASSCRED: 16,
    SO_PEERCRED: 17,
    SO_PASSRIGHTS: 83,
    SO_PASSPIDFD: 76,
    SO_NOSIGPIPE: 0,
    MSG_PEEK: 0x2,
    MSG_CTRUNC: 0x8,
    MSG_TRUNC: 0x20,
    MSG_DONTWAIT: 0x40,
    MSG_WAITALL: 0x100,
    MSG_NOSIGNAL: 0x4000,
    MSG_CMSG_CLOEXEC: 0x40000000,
    SHUT_RD: 0,
    SHUT_WR: 1,
    SHUT_RDWR: 2,
    F_GETFD: 1,
    F_SETFD: 2,
    F_GETFL: 3,
    F_SETFL: 4,
    F_DUPFD_CLOEXEC: 1030,
    FD_CLOEXEC: 1,
    O_NONBLOCK: 0x800,
    O_CLOEXEC: 0x80000,
    POLLIN: 0x1,
    POLLOUT: 0x4,
    // limits.h, fcntl.h, linux/memfd.h
    PIPE_BUF: 4096,
    ...FILE_CONSTANTS,
    MFD_CLOEXEC: 1,
    MFD_ALLOW_SEALING: 2,
    F_ADD_SEALS: 1033,
    F_GET_SEALS: 1034,
    F_SEAL_SEAL: 1,
    F_SEAL_SHRINK: 2,
    F_SEAL_GROW: 4,
    F_SEAL_WRITE: 8,
    F_SEAL_FUTURE_WRITE: 16,
    FIOCLEX: 0x5451,
  },
  darwin: {
    AF_UNIX: 1,
    SOCK_STREAM: 1,
    SOCK_DGRAM: 2,
    SOCK_SEQPACKET: 5,
    SOCK_NONBLOCK: 0,
    SOCK_CLOEXEC: 0,
    SOL_SOCKET: 0xffff,
    SCM_RIGHTS: 1,
    SCM_CREDENTIALS: 0,
    SCM_PIDFD: 0,
    SO_TYPE: 0x1008,
    SO_ERROR: 0x1007,
    SO_SNDBUF: 0x1001,
    SO_RCVBUF: 0x1002,
    SO_PASSCRED: 0,
    SO_PEERCRED: 0,
    SO_PASSRIGHTS: 0,
    SO_PASSPIDFD: 0,
    SO_NOSIGPIPE: 0x1022,
    MSG_PEEK: 0x2,
    MSG_CTRUNC: 0x20,
    MSG_TRUNC: 0x10,
    MSG_DONTWAIT: 0x80,
    MSG_WAITALL: 0x40,
    MSG_NOSIGNAL: 0x80000,
    MSG_CMSG_CLOEXEC: 0,
    SHUT_RD: 0,
    SHUT_WR: 1,
    SHUT_RDWR: 2,
    F_GETFD: 1,
    F_SETFD: 2,
    F_GETFL: 3,
    F_SETFL: 4,
    F_DUPFD_CLOEXEC: 67,
    FD_CLOEXEC: 1,
    O_NONBLOCK: 0x4,
    O_CLOEXEC: 0x1000000,
    POLLIN: 0x1,
    POLLOUT: 0x4,
    // PIPE_BUF of limits.h (sys/syslimits.h); fdpass offers memfd on Linux only.
    PIPE_BUF: 512,
    ...FILE_CONSTANTS,
    ...NO_MEMFD,
    FIOCLEX: 0x20006601,
  },
  freebsd: {
    AF_UNIX: 1,
    SOCK_STREAM: 1,
    SOCK_DGRAM: 2,
    SOCK_SEQPACKET: 5,
    SOCK_NONBLOCK: 0x20000000,
    SOCK_CLOEXEC: 0x10000000,
    SOL_SOCKET: 0xffff,
    SCM_RIGHTS: 1,
    SCM_CREDENTIALS: 0,
    SCM_PIDFD: 0,
    SO_TYPE: 0x1008,
    SO_ERROR: 0x1007,
    SO_SNDBUF: 0x1001,
    SO_RCVBUF: 0x1002,
    SO_PASSCRED: 0,
    SO_PEERCRED: 0,
    SO_PASSRIGHTS: 0,
    SO_PASSPIDFD: 0,
    SO_NOSIGPIPE: 0x0800,
    MSG_PEEK: 0x2,
    MSG_CTRUNC: 0x20,
    MSG_TRUNC: 0x10,
    MSG_DONTWAIT: 0x80,
    MSG_WAITALL: 0x40,
    MSG_NOSIGNAL: 0x20000,
    MSG_CMSG_CLOEXEC: 0x40000,
    SHUT_RD: 0,
    SHUT_WR: 1,
    SHUT_RDWR: 2,
    F_GETFD: 1,
    F_SETFD: 2,
    F_GETFL: 3,
    F_SETFL: 4,
    F_DUPFD_CLOEXEC: 17,
    FD_CLOEXEC: 1,
    O_NONBLOCK: 0x4,
    O_CLOEXEC: 0x100000,
    POLLIN: 0x1,
    POLLOUT: 0x4,
    // PIPE_BUF of limits.h (sys/syslimits.h); fdpass offers memfd on Linux only.
    PIPE_BUF: 512,
    ...FILE_CONSTANTS,
    ...NO_MEMFD,
    FIOCLEX: 0x20006601,
  },
} as const;

// §2 errno rows (EPERM ... ECONNREFUSED) plus the rest from the cited headers.
const LINUX_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EOVERFLOW: 75,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
};

const BSD_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ECHILD: 10,
  EDEADLK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  EAGAIN: 35,
  EINPROGRESS: 36,
  EALREADY: 37,
  ENOTSOCK: 38,
  EDESTADDRREQ: 39,
  EMSGSIZE: 40,
  EPROTOTYPE: 41,
  ENOPROTOOPT: 42,
  EPROTONOSUPPORT: 43,
  ESOCKTNOSUPPORT: 44,
  EPFNOSUPPORT: 46,
  EAFNOSUPPORT: 47,
  EADDRINUSE: 48,
  EADDRNOTAVAIL: 49,
  ENETDOWN: 50,
  ENETUNREACH: 51,
  ENETRESET: 52,
  ECONNABORTED: 53,
  ECONNRESET: 54,
  ENOBUFS: 55,
  EISCONN: 56,
  ENOTCONN: 57,
  ESHUTDOWN: 58,
  ETOOMANYREFS: 59,
  ETIMEDOUT: 60,
  ECONNREFUSED: 61,
  ELOOP: 62,
  ENAMETOOLONG: 63,
  EHOSTDOWN: 64,
  EHOSTUNREACH: 65,
  ENOTEMPTY: 66,
  ENOLCK: 77,
  ENOSYS: 78,
  EOVERFLOW: 84,
};

const ERRNO = {
  linux: LINUX_ERRNO,
  // §2: EOPNOTSUPP is 102 on macOS (45 is its ENOTSUP), 45 on FreeBSD.
  darwin: { ...BSD_ERRNO, EOPNOTSUPP: 102 },
  freebsd: { ...BSD_ERRNO, EOPNOTSUPP: 45 },
};

/** §1.6 "General formulas", written out independently of platform/cmsg.ts. */
function expectedCmsg(
  family: Family,
  payload: number,
): { len: number; space: number; data: number } {
  if (family === "darwin") {
    const aligned = Math.ceil(payload / 4) * 4;
    return { len: 12 + payload, space: 12 + aligned, data: 12 };
  }
  const aligned = Math.ceil(payload / 8) * 8;
  return { len: 16 + payload, space: 16 + aligned, data: 16 };
}

// §1.6 table: n fds -> [LEN, SPACE] per platform, verbatim.
const CMSG_TABLE: Record<Family, Record<number, [number, number]>> = {
  linux: {
    0: [16, 16],
    1: [20, 24],
    2: [24, 24],
    3: [28, 32],
    32: [144, 144],
    253: [1028, 1032],
  },
  freebsd: {
    0: [16, 16],
    1: [20, 24],
    2: [24, 24],
    3: [28, 32],
    32: [144, 144],
    253: [1028, 1032],
  },
  darwin: {
    0: [12, 12],
    1: [16, 16],
    2: [20, 20],
    3: [24, 24],
    32: [140, 140],
    253: [1024, 1024],
  },
};

test("PLATFORMS holds exactly the six supported profiles", () => {
  assert.deepEqual(
    PLATFORMS.map((p) => p.name).sort(),
    [
      "darwin-aarch64",
      "darwin-x86_64",
      "freebsd-aarch64",
      "freebsd-x86_64",
      "linux-aarch64",
      "linux-x86_64",
    ],
  );
  for (const p of PLATFORMS) assert.equal(p.name, `${p.os}-${p.arch}`);
});

test("platformFor() maps Node/Bun/Deno os and arch names to profiles", () => {
  const cases: [string, string, string | null][] = [
    ["linux", "x64", "linux-x86_64"],
    ["linux", "x86_64", "linux-x86_64"],
    ["linux", "amd64", "linux-x86_64"],
    ["linux", "arm64", "linux-aarch64"],
    ["linux", "aarch64", "linux-aarch64"],
    ["darwin", "x64", "darwin-x86_64"],
    ["darwin", "arm64", "darwin-aarch64"],
    ["freebsd", "x64", "freebsd-x86_64"],
    ["freebsd", "amd64", "freebsd-x86_64"],
    ["freebsd", "arm64", "freebsd-aarch64"],
    ["win32", "x64", null],
    ["windows", "x86_64", null],
    ["openbsd", "x64", null],
    ["linux", "ia32", null],
    ["linux", "arm", null],
    ["linux", "riscv64", null],
    ["Linux", "x64", null],
    ["", "", null],
  ];
  for (const [os, arch, name] of cases) {
    assert.equal(platformFor(os, arch)?.name ?? null, name, `${os}/${arch}`);
  }
  for (const p of PLATFORMS) assert.equal(platformFor(p.os, p.arch), p);
});

for (const layout of PLATFORMS) {
  const family = familyOf(layout);

  describe(`profile ${layout.name}`, () => {
    test("is little-endian LP64 with SCM_MAX_FD 253 (§3.1, §3.12)", () => {
      assert.equal(layout.littleEndian, true);
      assert.equal(layout.pointerSize, 8);
      assert.equal(layout.maxFds, 253);
    });

    test("struct msghdr has the sizes and offsets of §1.2/§1.4/§1.5", () => {
      assert.deepEqual({ ...layout.msghdr }, MSGHDR[family]);
    });

    test("struct iovec is 16 bytes (§1.2)", () => {
      assert.equal(layout.iovecSize, 16);
    });

    test("struct cmsghdr has the sizes and offsets of §1.2/§1.4/§1.5", () => {
      assert.deepEqual({ ...layout.cmsghdr }, CMSGHDR[family]);
    });

    test("struct sockaddr_un has the layout of §2 (sockaddr_un and naming)", () => {
      assert.deepEqual({ ...layout.sockaddrUn }, SOCKADDR_UN[family]);
    });

    test("struct epoll_event: 12 bytes packed on x86_64, 16 on aarch64, none off Linux", () => {
      const expected = EPOLL_EVENT[layout.name];
      assert.notEqual(expected, undefined);
      assert.deepEqual(
        layout.epollEvent === null ? null : { ...layout.epollEvent },
        expected,
      );
    });

    test("struct pollfd and POLLIN/POLLOUT/POLLERR/POLLHUP/POLLNVAL are the same bytes and bits everywhere", () => {
      assert.deepEqual({ ...layout.pollfd }, POLLFD);
      assert.equal(layout.pollfd.POLLIN, layout.constants.POLLIN);
      assert.equal(layout.pollfd.POLLOUT, layout.constants.POLLOUT);
    });

    test("peer credentials use SO_PEERCRED/LOCAL_PEERCRED as in §2", () => {
      assert.deepEqual(
        { ...layout.peerCredentials },
        PEER_CREDENTIALS[family],
      );
    });

    test("struct stat has the layout of the kernel's (or libc's) header", () => {
      const actual: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(layout.stat)) {
        actual[key] = typeof value === "number"
          ? value
          : [value.offset, value.size];
      }
      const expected = STAT[layout.os === "linux" ? layout.name : layout.os];
      assert.deepEqual(actual, expected);
    });

    test("constants match the §2 table", () => {
      assert.deepEqual({ ...layout.constants }, CONSTANTS[family]);
    });

    test("errno numbers match §2 and the platform's errno.h", () => {
      assert.deepEqual({ ...layout.errno }, ERRNO[family]);
    });

    test("errnoNames() inverts the errno table without losing a name", () => {
      const names = errnoNames(layout.errno);
      const expected = ERRNO[family];
      assert.equal(names.size, Object.keys(expected).length);
      for (const [name, value] of Object.entries(expected)) {
        assert.equal(names.get(value), name);
        assert.equal(typeof ERRNO_DESCRIPTIONS[name as "EPERM"], "string");
      }
    });

    test("CMSG_LEN/CMSG_SPACE match the §1.6 table rows", () => {
      const h = layout.cmsghdr;
      for (const [n, [len, space]] of Object.entries(CMSG_TABLE[family])) {
        const payload = 4 * Number(n);
        assert.equal(cmsgLen(h, payload), len, `CMSG_LEN(${payload})`);
        assert.equal(cmsgSpace(h, payload), space, `CMSG_SPACE(${payload})`);
        assert.equal(rightsSpace(layout, Number(n)), space, `${n} fds`);
      }
      // §1.6 "Other handy Linux sizes": CMSG_SPACE(sizeof(struct ucred)) = 32.
      if (family === "linux") assert.equal(cmsgSpace(h, 12), 32);
    });

    test("CMSG_ALIGN/LEN/SPACE/DATA follow §1.6's formulas for 0..254 fds", () => {
      const h = layout.cmsghdr;
      for (let n = 0; n <= 254; n++) {
        const e = expectedCmsg(family, 4 * n);
        assert.equal(cmsgLen(h, 4 * n), e.len, `CMSG_LEN for ${n} fds`);
        assert.equal(cmsgSpace(h, 4 * n), e.space, `CMSG_SPACE for ${n} fds`);
        assert.equal(rightsSpace(layout, n), e.space, `rightsSpace(${n})`);
        assert.equal(cmsgData(h), e.data);
      }
      const align = family === "darwin" ? 4 : 8;
      for (let length = 0; length <= 2048; length++) {
        assert.equal(
          cmsgAlign(h, length),
          Math.ceil(length / align) * align,
          `CMSG_ALIGN(${length})`,
        );
        assert.equal(cmsgSpace(h, length), expectedCmsg(family, length).space);
      }
    });
  });

  describe(`encoders for ${layout.name}`, () => {
    const fields = {
      name: 0x7f00_1122_3344,
      namelen: 110,
      iov: 0x7f00_5566_7788,
      iovlen: 3,
      control: 0x7f00_99aa_bbcc,
      controllen: 1032,
    };
    // §1.7 rules 1-3: whole struct zeroed, 64-bit fields with a zero high half
    // on Linux, 32-bit msg_iovlen/msg_controllen elsewhere.
    const MSGHDR_BYTES: Record<Family, string> = {
      linux: `44 33 22 11 00 7f 00 00 | 6e 00 00 00 00 00 00 00
              88 77 66 55 00 7f 00 00 | 03 00 00 00 00 00 00 00
              cc bb aa 99 00 7f 00 00 | 08 04 00 00 00 00 00 00
              00 00 00 00 00 00 00 00`,
      darwin: `44 33 22 11 00 7f 00 00 | 6e 00 00 00 00 00 00 00
               88 77 66 55 00 7f 00 00 | 03 00 00 00 00 00 00 00
               cc bb aa 99 00 7f 00 00 | 08 04 00 00 | 00 00 00 00`,
      freebsd: `44 33 22 11 00 7f 00 00 | 6e 00 00 00 00 00 00 00
                88 77 66 55 00 7f 00 00 | 03 00 00 00 00 00 00 00
                cc bb aa 99 00 7f 00 00 | 08 04 00 00 | 00 00 00 00`,
    };

    test("encodeMsghdr() writes every field and zeroes padding, byte by byte", () => {
      const { bytes, view } = dirty(80);
      encodeMsghdr(view, 8, layout, fields);
      const expected = hex(MSGHDR_BYTES[family]);
      assert.deepEqual(bytes.subarray(8, 8 + expected.length), expected);
      assert.ok(bytes.subarray(0, 8).every((b) => b === 0xee), "before");
      assert.ok(
        bytes.subarray(8 + expected.length).every((b) => b === 0xee),
        "after the struct",
      );
    });

    test("readControllen()/readMsgFlags() read what recvmsg leaves", () => {
      const { view, bytes } = dirty(64);
      if (family === "linux") {
        bytes.set(hex("18 00 00 00 00 00 00 00 | 08 00 00 00"), 40);
        assert.equal(readControllen(view, 0, layout), 24);
        assert.equal(readMsgFlags(view, 0, layout), 0x8);
        // A 64-bit size_t: the high half counts.
        bytes.set(hex("18 00 00 00 01 00 00 00"), 40);
        assert.equal(readControllen(view, 0, layout), 0x1_0000_0018);
      } else {
        // A 32-bit socklen_t directly followed by msg_flags (MSG_CTRUNC 0x20).
        bytes.set(hex("18 00 00 00 | 20 00 00 00"), 40);
        assert.equal(readControllen(view, 0, layout), 24);
        assert.equal(readMsgFlags(view, 0, layout), 0x20);
      }
    });

    test("encodeIovec() writes base and length as 64-bit words", () => {
      const { bytes, view } = dirty(32);
      encodeIovec(view, 4, 0x7f00_1122_3344, 0x1_0000_0010);
      assert.deepEqual(
        bytes.subarray(4, 20),
        hex("44 33 22 11 00 7f 00 00 | 10 00 00 00 01 00 00 00"),
      );
      assert.ok(bytes.subarray(0, 4).every((b) => b === 0xee));
      assert.ok(bytes.subarray(20).every((b) => b === 0xee));
    });

    // cmsg_len, level SOL_SOCKET, type SCM_RIGHTS, [pad], fds 3, 4, 0x7fffffff, [pad].
    const RIGHTS_BYTES: Record<Family, string> = {
      linux: `1c 00 00 00 00 00 00 00 | 01 00 00 00 | 01 00 00 00
              03 00 00 00 | 04 00 00 00 | ff ff ff 7f | 00 00 00 00`,
      darwin: `18 00 00 00 | ff ff 00 00 | 01 00 00 00
               03 00 00 00 | 04 00 00 00 | ff ff ff 7f`,
      freebsd: `1c 00 00 00 | ff ff 00 00 | 01 00 00 00 | 00 00 00 00
                03 00 00 00 | 04 00 00 00 | ff ff ff 7f | 00 00 00 00`,
    };

    test("encodeRights() writes one SCM_RIGHTS message byte by byte", () => {
      const { bytes, view } = dirty(64);
      const length = encodeRights(view, 8, [3, 4, 0x7fffffff], layout);
      const expected = hex(RIGHTS_BYTES[family]);
      assert.equal(length, expected.length);
      assert.equal(length, expectedCmsg(family, 12).space);
      assert.deepEqual(bytes.subarray(8, 8 + length), expected);
      assert.ok(bytes.subarray(0, 8).every((b) => b === 0xee));
      assert.ok(bytes.subarray(8 + length).every((b) => b === 0xee));
    });

    test("encodeRights() returns CMSG_SPACE and places each fd for 1..253 fds", () => {
      for (const n of [1, 2, 3, 32, 252, 253]) {
        const fds = Array.from({ length: n }, (_, i) => 1000 + i);
        const { bytes, view } = dirty(1100);
        const e = expectedCmsg(family, 4 * n);
        assert.equal(encodeRights(view, 0, fds, layout), e.space, `${n} fds`);
        const lenBytes = family === "linux" ? 8 : 4;
        let cmsgLength = 0;
        for (let i = lenBytes - 1; i >= 0; i--) {
          cmsgLength = cmsgLength * 256 + bytes[i]!;
        }
        assert.equal(cmsgLength, e.len);
        for (let i = 0; i < n; i++) {
          assert.equal(view.getInt32(e.data + 4 * i, true), 1000 + i);
        }
        // Alignment padding after the last fd is zero, never stale.
        assert.ok(bytes.subarray(e.len, e.space).every((b) => b === 0));
        assert.ok(bytes.subarray(e.space).every((b) => b === 0xee));
      }
    });

    const SOCKADDR_BYTES: Record<Family, string> = {
      linux: "01 00 | 2f 74 6d 70 2f 73 00",
      darwin: "09 01 | 2f 74 6d 70 2f 73 00",
      freebsd: "09 01 | 2f 74 6d 70 2f 73 00",
    };

    test("encodeSockaddrUn() writes family, sun_len and a NUL-terminated path", () => {
      const encoded = encodeSockaddrUn("/tmp/s", layout);
      const head = hex(SOCKADDR_BYTES[family]);
      assert.equal(encoded.bytes.length, SOCKADDR_UN[family].size);
      assert.equal(encoded.length, 9);
      assert.deepEqual(encoded.bytes.subarray(0, head.length), head);
      assert.ok(encoded.bytes.subarray(head.length).every((b) => b === 0));
    });

    const pathBytes = SOCKADDR_UN[family].pathSize - 1;
    test(`encodeSockaddrUn() accepts ${pathBytes}-byte paths and rejects longer ones`, () => {
      const longest = encodeSockaddrUn("/" + "a".repeat(pathBytes - 1), layout);
      assert.equal(longest.length, SOCKADDR_UN[family].size);
      assert.equal(longest.bytes[longest.bytes.length - 1], 0);
      assert.throws(
        () => encodeSockaddrUn("/" + "a".repeat(pathBytes), layout),
        RangeError,
      );
      // Bytes, not UTF-16 units: "é" is two bytes in UTF-8.
      const half = Math.floor(pathBytes / 2);
      assert.equal(
        encodeSockaddrUn("é".repeat(half), layout).length,
        2 + 2 * half + 1,
      );
      assert.throws(
        () => encodeSockaddrUn("é".repeat(half + 1), layout),
        RangeError,
      );
    });

    test("encodeSockaddrUn() rejects empty paths, NULs and non-strings with TypeError", () => {
      assert.throws(() => encodeSockaddrUn("", layout), TypeError);
      assert.throws(() => encodeSockaddrUn("/tmp/a\0b", layout), TypeError);
      assert.throws(
        () => encodeSockaddrUn(42 as unknown as string, layout),
        TypeError,
      );
    });

    if (family === "linux") {
      test("encodeSockaddrUn() writes \\0name as an abstract name without terminator", () => {
        const encoded = encodeSockaddrUn("\0abc", layout);
        assert.equal(encoded.length, 6);
        assert.deepEqual(
          encoded.bytes.subarray(0, 8),
          hex("01 00 | 00 61 62 63 | 00 00"),
        );
        // NULs inside an abstract name are part of it (§2).
        const inner = encodeSockaddrUn("\0a\0b", layout);
        assert.equal(inner.length, 6);
        assert.deepEqual(inner.bytes.subarray(0, 6), hex("01 00 00 61 00 62"));
        // The leading NUL takes one of sun_path's 108 bytes.
        assert.equal(
          encodeSockaddrUn("\0" + "x".repeat(107), layout).length,
          110,
        );
        assert.throws(
          () => encodeSockaddrUn("\0" + "x".repeat(108), layout),
          RangeError,
        );
      });
    } else {
      test("encodeSockaddrUn() rejects \\0name: no abstract namespace off Linux", () => {
        assert.throws(() => encodeSockaddrUn("\0abc", layout), TypeError);
      });
    }

    test("decodeSockaddrUn() reads what getsockname/accept return", () => {
      const s = SOCKADDR_UN[family];
      const bytes = new Uint8Array(s.size);
      bytes.set(hex(SOCKADDR_BYTES[family]));
      assert.equal(decodeSockaddrUn(bytes, 9, layout), "/tmp/s");
      // addrlen may or may not count the NUL; the path stops at it either way.
      assert.equal(decodeSockaddrUn(bytes, 8, layout), "/tmp/s");
      assert.equal(decodeSockaddrUn(bytes, 6, layout), "/tmp");
      assert.equal(decodeSockaddrUn(bytes, 200, layout), "/tmp/s");
      // An unnamed socket: addrlen covers the family only, or nothing.
      assert.equal(decodeSockaddrUn(bytes, 2, layout), "");
      assert.equal(decodeSockaddrUn(bytes, 0, layout), "");
      // A full sun_path without a NUL is cut at the struct's end.
      const full = new Uint8Array(s.size).fill(0x61);
      assert.equal(
        decodeSockaddrUn(full, 1000, layout),
        "a".repeat(s.pathSize),
      );
      const leadingNul = new Uint8Array(s.size);
      leadingNul.set(hex("00 00 00 61 00 62"), 0);
      assert.equal(
        decodeSockaddrUn(leadingNul, 6, layout),
        s.abstract ? "\0a\0b" : "",
      );
      if (s.abstract) {
        // Linux autobind: "\0" plus 5 hex digits, addrlen 8.
        const auto = new Uint8Array(s.size);
        auto.set(hex("01 00 00 30 61 62 63 64"));
        assert.equal(decodeSockaddrUn(auto, 8, layout), "\x000abcd");
      }
    });

    test("decodeSockaddrUn() inverts encodeSockaddrUn()", () => {
      const paths = [
        "/tmp/x.sock",
        "relative",
        "/ünïcødé/ß",
        "/" + "p".repeat(SOCKADDR_UN[family].pathSize - 2),
      ];
      if (family === "linux") paths.push("\0abstract", "\0a\0b\0", "\0");
      for (const path of paths) {
        const { bytes, length } = encodeSockaddrUn(path, layout);
        assert.equal(decodeSockaddrUn(bytes, length, layout), path);
      }
    });
  });
}
