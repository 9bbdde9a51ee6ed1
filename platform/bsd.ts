/**
 * macOS (xnu) and FreeBSD. Both use a 48-byte `msghdr` with 32-bit
 * `msg_iovlen`/`msg_controllen` and a 12-byte `cmsghdr`; they differ in where
 * the control data starts (12 on macOS, 16 on FreeBSD), in alignment, and in
 * a few constants. Layout-tested on Linux; not run here.
 *
 * @module
 */

import { DARWIN_ERRNO, FREEBSD_ERRNO } from "./errno.ts";
import { FILE_CONSTANTS } from "./stat.ts";
import { POLLFD } from "./poll.ts";
import type {
  Architecture,
  MsghdrLayout,
  OperatingSystem,
  PlatformLayout,
  SockaddrUnLayout,
  SocketConstants,
  StatLayout,
} from "./types.ts";

const MSGHDR: MsghdrLayout = {
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
};

const SOCKADDR_UN: SockaddrUnLayout = {
  size: 106,
  len: 0,
  family: 1,
  familySize: 1,
  path: 2,
  pathSize: 104,
  abstract: false,
};

const SHARED = {
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_SEQPACKET: 5,
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
  SO_PASSPIDFD: 0,
  MSG_PEEK: 0x2,
  MSG_CTRUNC: 0x20,
  MSG_TRUNC: 0x10,
  MSG_DONTWAIT: 0x80,
  MSG_WAITALL: 0x40,
  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,
  F_GETFD: 1,
  F_SETFD: 2,
  F_GETFL: 3,
  F_SETFL: 4,
  FD_CLOEXEC: 1,
  O_NONBLOCK: 0x4,
  POLLIN: 0x1,
  POLLOUT: 0x4,
  PIPE_BUF: 512,
  ...FILE_CONSTANTS,
  MFD_CLOEXEC: 0,
  MFD_ALLOW_SEALING: 0,
  F_ADD_SEALS: 0,
  F_GET_SEALS: 0,
  F_SEAL_SEAL: 0,
  F_SEAL_SHRINK: 0,
  F_SEAL_GROW: 0,
  F_SEAL_WRITE: 0,
  F_SEAL_FUTURE_WRITE: 0,
  // _IO('f', 1) = IOC_VOID (0x20000000) | 'f' << 8 | 1 on xnu and FreeBSD.
  FIOCLEX: 0x20006601,
} as const;

const DARWIN_CONSTANTS: SocketConstants = {
  ...SHARED,
  SOCK_NONBLOCK: 0,
  SOCK_CLOEXEC: 0,
  SO_PASSRIGHTS: 0,
  SO_NOSIGPIPE: 0x1022,
  MSG_NOSIGNAL: 0x80000,
  MSG_CMSG_CLOEXEC: 0,
  F_DUPFD_CLOEXEC: 67,
  O_CLOEXEC: 0x1000000,
};

const FREEBSD_CONSTANTS: SocketConstants = {
  ...SHARED,
  SOCK_NONBLOCK: 0x20000000,
  SOCK_CLOEXEC: 0x10000000,
  SO_PASSRIGHTS: 0,
  SO_NOSIGPIPE: 0x0800,
  MSG_NOSIGNAL: 0x20000,
  MSG_CMSG_CLOEXEC: 0x40000,
  F_DUPFD_CLOEXEC: 17,
  O_CLOEXEC: 0x00100000,
};

const f = (offset: number, size: 2 | 4 | 8) => ({ offset, size });

/**
 * macOS `struct stat64` (what `fstat64` fills; the default `struct stat` of
 * every current SDK): 32-bit `st_dev`, 16-bit mode and link count, then the
 * 64-bit inode.
 */
const DARWIN_STAT: StatLayout = {
  size: 144,
  dev: f(0, 4),
  mode: f(4, 2),
  nlink: f(6, 2),
  ino: f(8, 8),
  uid: f(16, 4),
  gid: f(20, 4),
  rdev: f(24, 4),
  atime: 32,
  mtime: 48,
  ctime: 64,
  fileSize: f(96, 8),
  blocks: f(104, 8),
  blksize: f(112, 4),
};

/** FreeBSD 12+ (64-bit inodes, `ino64`): the same on amd64 and arm64. */
const FREEBSD_STAT: StatLayout = {
  size: 224,
  dev: f(0, 8),
  ino: f(8, 8),
  nlink: f(16, 8),
  mode: f(24, 2),
  uid: f(28, 4),
  gid: f(32, 4),
  rdev: f(40, 8),
  atime: 48,
  mtime: 64,
  ctime: 80,
  fileSize: f(112, 8),
  blocks: f(120, 8),
  blksize: f(128, 4),
};

function bsd(os: OperatingSystem, arch: Architecture): PlatformLayout {
  const darwin = os === "darwin";
  return {
    name: `${os}-${arch}`,
    os,
    arch,
    littleEndian: true,
    pointerSize: 8,
    msghdr: MSGHDR,
    iovecSize: 16,
    cmsghdr: {
      size: 12,
      lenSize: 4,
      level: 4,
      type: 8,
      // xnu aligns to 4 (__DARWIN_ALIGN32); FreeBSD's _ALIGN rounds to 8.
      dataOffset: darwin ? 12 : 16,
      align: darwin ? 4 : 8,
    },
    sockaddrUn: SOCKADDR_UN,
    epollEvent: null,
    fileStat: null,
    pollfd: POLLFD,
    // LOCAL_PEERCRED at SOL_LOCAL: struct xucred { u_int cr_version; uid_t
    // cr_uid; short cr_ngroups; gid_t cr_groups[16]; } (cr_groups[0] is the
    // effective gid). FreeBSD 13+ adds `union { void *; pid_t cr_pid; }`,
    // pointer-aligned after the groups; macOS gives the pid through
    // LOCAL_PEERPID instead.
    peerCredentials: darwin
      ? { level: 0, name: 1, size: 76, pid: -1, uid: 4, gid: 12, pidOption: 2 }
      : { level: 0, name: 1, size: 88, pid: 80, uid: 4, gid: 12, pidOption: 0 },
    stat: darwin ? DARWIN_STAT : FREEBSD_STAT,
    constants: darwin ? DARWIN_CONSTANTS : FREEBSD_CONSTANTS,
    errno: darwin ? DARWIN_ERRNO : FREEBSD_ERRNO,
    maxFds: 253,
  };
}

/** macOS on Apple silicon. */
export const DARWIN_AARCH64: PlatformLayout = bsd("darwin", "aarch64");
/** macOS on Intel. */
export const DARWIN_X86_64: PlatformLayout = bsd("darwin", "x86_64");
/** FreeBSD amd64. */
export const FREEBSD_X86_64: PlatformLayout = bsd("freebsd", "x86_64");
/** FreeBSD arm64. */
export const FREEBSD_AARCH64: PlatformLayout = bsd("freebsd", "aarch64");
