/**
 * Linux on x86_64 and aarch64. glibc and musl share these bytes on
 * little-endian LP64 as long as every 64-bit field is written whole with a
 * zero high half (musl's `int` plus padding sits exactly where glibc's
 * `size_t` does), which fdpass always does.
 *
 * @module
 */

import { LINUX_ERRNO } from "./errno.ts";
import { FILE_CONSTANTS } from "./stat.ts";
import type {
  Architecture,
  PlatformLayout,
  SocketConstants,
  StatLayout,
} from "./types.ts";
import { POLLFD } from "./poll.ts";

const CONSTANTS: SocketConstants = {
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_SEQPACKET: 5,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
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
  O_NONBLOCK: 0o4000,
  O_CLOEXEC: 0o2000000,
  POLLIN: 0x1,
  POLLOUT: 0x4,
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
};

const EPOLL = {
  EPOLLIN: 0x1,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLLRDHUP: 0x2000,
  EPOLLONESHOT: 0x4000_0000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CTL_MOD: 3,
  EPOLL_CLOEXEC: 0o2000000,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
} as const;

const f = (offset: number, size: 2 | 4 | 8) => ({ offset, size });

/**
 * x86_64 keeps its own historical `struct stat` (144 bytes, 64-bit
 * `st_nlink` before `st_mode`); aarch64 uses the generic one (128 bytes).
 * glibc and musl pass the kernel's struct through unchanged on both.
 */
const STAT: Record<Architecture, StatLayout> = {
  x86_64: {
    size: 144,
    dev: f(0, 8),
    ino: f(8, 8),
    nlink: f(16, 8),
    mode: f(24, 4),
    uid: f(28, 4),
    gid: f(32, 4),
    rdev: f(40, 8),
    fileSize: f(48, 8),
    blksize: f(56, 8),
    blocks: f(64, 8),
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
  aarch64: {
    size: 128,
    dev: f(0, 8),
    ino: f(8, 8),
    mode: f(16, 4),
    nlink: f(20, 4),
    uid: f(24, 4),
    gid: f(28, 4),
    rdev: f(32, 8),
    fileSize: f(48, 8),
    blksize: f(56, 4),
    blocks: f(64, 8),
    atime: 72,
    mtime: 88,
    ctime: 104,
  },
};

function linux(arch: Architecture): PlatformLayout {
  return {
    name: `linux-${arch}`,
    os: "linux",
    arch,
    littleEndian: true,
    pointerSize: 8,
    msghdr: {
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
    iovecSize: 16,
    cmsghdr: {
      size: 16,
      lenSize: 8,
      level: 8,
      type: 12,
      dataOffset: 16,
      align: 8,
    },
    sockaddrUn: {
      size: 110,
      len: -1,
      family: 0,
      familySize: 2,
      path: 2,
      pathSize: 108,
      abstract: true,
    },
    // x86_64 declares struct epoll_event packed (12 bytes); aarch64 does not.
    epollEvent: {
      ...(arch === "x86_64"
        ? { size: 12, events: 0, data: 4 }
        : { size: 16, events: 0, data: 8 }),
      ...EPOLL,
    },
    // fstatat fills the kernel's struct stat (`stat` below).
    fileStat: {
      syscall: arch === "x86_64" ? 262 : 79,
      AT_FDCWD: -100,
      AT_SYMLINK_NOFOLLOW: 0x100,
    },
    pollfd: POLLFD,
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    peerCredentials: {
      level: 1,
      name: 17,
      size: 12,
      pid: 0,
      uid: 4,
      gid: 8,
      pidOption: 0,
    },
    stat: STAT[arch],
    constants: CONSTANTS,
    errno: LINUX_ERRNO,
    maxFds: 253,
  };
}

/** Linux x86_64, glibc or musl. */
export const LINUX_X86_64: PlatformLayout = linux("x86_64");

/** Linux aarch64, glibc or musl. */
export const LINUX_AARCH64: PlatformLayout = linux("aarch64");
