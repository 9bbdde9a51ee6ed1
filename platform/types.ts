/**
 * The shape of one target's kernel ABI: struct sizes and offsets, constants
 * and errno names. Pure data, so that every profile can be checked byte for
 * byte on any host.
 *
 * @module
 */

import type { ErrnoTable } from "./errno.ts";

/** Operating systems that have a layout profile. */
export type OperatingSystem = "linux" | "darwin" | "freebsd";

/** CPU architectures that have a layout profile. */
export type Architecture = "x86_64" | "aarch64";

/** Byte offsets of the fields of `struct msghdr`. */
export interface MsghdrLayout {
  /** `sizeof(struct msghdr)`. */
  readonly size: number;
  /** Offset of `msg_name`. */
  readonly name: number;
  /** Offset of `msg_namelen` (a `socklen_t`). */
  readonly namelen: number;
  /** Offset of `msg_iov`. */
  readonly iov: number;
  /** Offset of `msg_iovlen`. */
  readonly iovlen: number;
  /** 8 where `msg_iovlen` is a `size_t`, 4 where it is an `int`. */
  readonly iovlenSize: 4 | 8;
  /** Offset of `msg_control`. */
  readonly control: number;
  /** Offset of `msg_controllen`. */
  readonly controllen: number;
  /** 8 where `msg_controllen` is a `size_t`, 4 where it is a `socklen_t`. */
  readonly controllenSize: 4 | 8;
  /** Offset of `msg_flags`. */
  readonly flags: number;
}

/** Layout of `struct cmsghdr` and the `CMSG_*` macros. */
export interface CmsghdrLayout {
  /** `sizeof(struct cmsghdr)`. */
  readonly size: number;
  /** Size of `cmsg_len`: 8 (`size_t`) on Linux, 4 (`socklen_t`) on the BSDs. */
  readonly lenSize: 4 | 8;
  /** Offset of `cmsg_level`. */
  readonly level: number;
  /** Offset of `cmsg_type`. */
  readonly type: number;
  /** `CMSG_DATA(cmsg) - cmsg`. */
  readonly dataOffset: number;
  /** The alignment `CMSG_ALIGN` rounds to. */
  readonly align: number;
}

/** Layout of `struct sockaddr_un`. */
export interface SockaddrUnLayout {
  /** `sizeof(struct sockaddr_un)`. */
  readonly size: number;
  /** Offset of `sun_len` (BSDs) or -1 where there is none (Linux). */
  readonly len: number;
  /** Offset of `sun_family`. */
  readonly family: number;
  /** Size of `sun_family`: 2 on Linux, 1 on the BSDs. */
  readonly familySize: 1 | 2;
  /** Offset of `sun_path`. */
  readonly path: number;
  /** Bytes of `sun_path`. */
  readonly pathSize: number;
  /** Whether `sun_path[0] == 0` names an abstract socket (Linux only). */
  readonly abstract: boolean;
}

/** Layout of `struct epoll_event` and the epoll constants (Linux only). */
export interface EpollEventLayout {
  /** `sizeof(struct epoll_event)`: 12 on x86_64 (packed), 16 on aarch64. */
  readonly size: number;
  /** Offset of `events`. */
  readonly events: number;
  /** Offset of `data` (64 bits). */
  readonly data: number;
  /** `EPOLLIN` (0 where the platform has none). */
  readonly EPOLLIN: number;
  /** `EPOLLOUT` (0 where the platform has none). */
  readonly EPOLLOUT: number;
  /** `EPOLLERR` (0 where the platform has none). */
  readonly EPOLLERR: number;
  /** `EPOLLHUP` (0 where the platform has none). */
  readonly EPOLLHUP: number;
  /** `EPOLLRDHUP` (0 where the platform has none). */
  readonly EPOLLRDHUP: number;
  /** `EPOLLONESHOT` (0 where the platform has none). */
  readonly EPOLLONESHOT: number;
  /** `EPOLL_CTL_ADD` (0 where the platform has none). */
  readonly EPOLL_CTL_ADD: number;
  /** `EPOLL_CTL_DEL` (0 where the platform has none). */
  readonly EPOLL_CTL_DEL: number;
  /** `EPOLL_CTL_MOD` (0 where the platform has none). */
  readonly EPOLL_CTL_MOD: number;
  /** `EPOLL_CLOEXEC` (0 where the platform has none). */
  readonly EPOLL_CLOEXEC: number;
  /** `EFD_CLOEXEC` (0 where the platform has none). */
  readonly EFD_CLOEXEC: number;
  /** `EFD_NONBLOCK` (0 where the platform has none). */
  readonly EFD_NONBLOCK: number;
}

/**
 * Layout of `struct pollfd { int fd; short events; short revents; }` and the
 * poll bits: the same bytes and numbers on Linux, macOS and FreeBSD.
 */
export interface PollfdLayout {
  /** `sizeof(struct pollfd)`: 8. */
  readonly size: number;
  /** Offset of `fd` (an `int`). */
  readonly fd: number;
  /** Offset of `events` (a `short`). */
  readonly events: number;
  /** Offset of `revents` (a `short`). */
  readonly revents: number;
  /** `POLLIN`: readable (or end of stream). */
  readonly POLLIN: number;
  /** `POLLOUT`: writable. */
  readonly POLLOUT: number;
  /** `POLLERR`: an error is pending (always reported). */
  readonly POLLERR: number;
  /** `POLLHUP`: hung up (always reported). */
  readonly POLLHUP: number;
  /** `POLLNVAL`: the fd is not open (always reported). */
  readonly POLLNVAL: number;
}

/** Socket, message and option constants. `0` means the platform has none. */
export interface SocketConstants {
  /** `AF_UNIX` (0 where the platform has none). */
  readonly AF_UNIX: number;
  /** `SOCK_STREAM` (0 where the platform has none). */
  readonly SOCK_STREAM: number;
  /** `SOCK_DGRAM` (0 where the platform has none). */
  readonly SOCK_DGRAM: number;
  /** `SOCK_SEQPACKET` (0 where the platform has none). */
  readonly SOCK_SEQPACKET: number;
  /** `SOCK_NONBLOCK` (0 where the platform has none). */
  readonly SOCK_NONBLOCK: number;
  /** `SOCK_CLOEXEC` (0 where the platform has none). */
  readonly SOCK_CLOEXEC: number;
  /** `SOL_SOCKET` (0 where the platform has none). */
  readonly SOL_SOCKET: number;
  /** `SCM_RIGHTS` (0 where the platform has none). */
  readonly SCM_RIGHTS: number;
  /** `SCM_CREDENTIALS` (0 where the platform has none). */
  readonly SCM_CREDENTIALS: number;
  /**
   * `SCM_PIDFD` (Linux 6.5+: a pidfd of the sender, installed with every
   * message while `SO_PASSPIDFD` is on; 0 where the platform has none).
   */
  readonly SCM_PIDFD: number;
  /** `SO_TYPE` (0 where the platform has none). */
  readonly SO_TYPE: number;
  /** `SO_ERROR` (0 where the platform has none). */
  readonly SO_ERROR: number;
  /** `SO_SNDBUF` (0 where the platform has none). */
  readonly SO_SNDBUF: number;
  /** `SO_RCVBUF` (0 where the platform has none). */
  readonly SO_RCVBUF: number;
  /** `SO_PASSCRED` (0 where the platform has none). */
  readonly SO_PASSCRED: number;
  /** `SO_PEERCRED` (0 where the platform has none). */
  readonly SO_PEERCRED: number;
  /**
   * `SO_PASSRIGHTS` (Linux 6.16+: set to 0, the kernel refuses fds sent to
   * the socket; 0 where the platform has none).
   */
  readonly SO_PASSRIGHTS: number;
  /** `SO_PASSPIDFD` (Linux 6.5+; 0 where the platform has none). */
  readonly SO_PASSPIDFD: number;
  /** `SO_NOSIGPIPE` (0 where the platform has none). */
  readonly SO_NOSIGPIPE: number;
  /** `MSG_PEEK` (0 where the platform has none). */
  readonly MSG_PEEK: number;
  /** `MSG_CTRUNC` (0 where the platform has none). */
  readonly MSG_CTRUNC: number;
  /** `MSG_TRUNC` (0 where the platform has none). */
  readonly MSG_TRUNC: number;
  /** `MSG_DONTWAIT` (0 where the platform has none). */
  readonly MSG_DONTWAIT: number;
  /** `MSG_WAITALL` (0 where the platform has none). */
  readonly MSG_WAITALL: number;
  /** `MSG_NOSIGNAL` (0 where the platform has none). */
  readonly MSG_NOSIGNAL: number;
  /** `MSG_CMSG_CLOEXEC` (0 where the platform has none). */
  readonly MSG_CMSG_CLOEXEC: number;
  /** `SHUT_RD` (0 where the platform has none). */
  readonly SHUT_RD: number;
  /** `SHUT_WR` (0 where the platform has none). */
  readonly SHUT_WR: number;
  /** `SHUT_RDWR` (0 where the platform has none). */
  readonly SHUT_RDWR: number;
  /** `F_GETFD` (0 where the platform has none). */
  readonly F_GETFD: number;
  /** `F_SETFD` (0 where the platform has none). */
  readonly F_SETFD: number;
  /** `F_GETFL` (0 where the platform has none). */
  readonly F_GETFL: number;
  /** `F_SETFL` (0 where the platform has none). */
  readonly F_SETFL: number;
  /** `F_DUPFD_CLOEXEC` (0 where the platform has none). */
  readonly F_DUPFD_CLOEXEC: number;
  /** `FD_CLOEXEC` (0 where the platform has none). */
  readonly FD_CLOEXEC: number;
  /** `O_NONBLOCK` (0 where the platform has none). */
  readonly O_NONBLOCK: number;
  /** `O_CLOEXEC` (0 where the platform has none). */
  readonly O_CLOEXEC: number;
  /** `POLLIN` (0 where the platform has none). */
  readonly POLLIN: number;
  /** `POLLOUT` (0 where the platform has none). */
  readonly POLLOUT: number;
  /**
   * `PIPE_BUF`: a pipe write of at most this many bytes is atomic, and after
   * `POLLOUT` cannot block (4096 on Linux, 512 on macOS and FreeBSD).
   */
  readonly PIPE_BUF: number;
  /** `SEEK_SET` (0 everywhere). */
  readonly SEEK_SET: number;
  /** `SEEK_CUR`. */
  readonly SEEK_CUR: number;
  /** `SEEK_END`. */
  readonly SEEK_END: number;
  /** `S_IFMT`: the file-type bits of `st_mode`. */
  readonly S_IFMT: number;
  /** `S_IFIFO`. */
  readonly S_IFIFO: number;
  /** `S_IFCHR`. */
  readonly S_IFCHR: number;
  /** `S_IFDIR`. */
  readonly S_IFDIR: number;
  /** `S_IFBLK`. */
  readonly S_IFBLK: number;
  /** `S_IFREG`. */
  readonly S_IFREG: number;
  /** `S_IFLNK`. */
  readonly S_IFLNK: number;
  /** `S_IFSOCK`. */
  readonly S_IFSOCK: number;
  /** `MFD_CLOEXEC` (Linux; 0 where fdpass offers no memfd). */
  readonly MFD_CLOEXEC: number;
  /** `MFD_ALLOW_SEALING` (Linux; 0 where fdpass offers no memfd). */
  readonly MFD_ALLOW_SEALING: number;
  /** `F_ADD_SEALS` (Linux; 0 where fdpass offers no memfd). */
  readonly F_ADD_SEALS: number;
  /** `F_GET_SEALS` (Linux; 0 where fdpass offers no memfd). */
  readonly F_GET_SEALS: number;
  /** `F_SEAL_SEAL` (Linux; 0 where fdpass offers no memfd). */
  readonly F_SEAL_SEAL: number;
  /** `F_SEAL_SHRINK` (Linux; 0 where fdpass offers no memfd). */
  readonly F_SEAL_SHRINK: number;
  /** `F_SEAL_GROW` (Linux; 0 where fdpass offers no memfd). */
  readonly F_SEAL_GROW: number;
  /** `F_SEAL_WRITE` (Linux; 0 where fdpass offers no memfd). */
  readonly F_SEAL_WRITE: number;
  /** `F_SEAL_FUTURE_WRITE` (Linux 5.1+; 0 where fdpass offers no memfd). */
  readonly F_SEAL_FUTURE_WRITE: number;
  /**
   * `FIOCLEX`: `ioctl(fd, FIOCLEX)` sets close-on-exec with no variadic
   * argument, unlike `fcntl(fd, F_SETFD, FD_CLOEXEC)`, whose third argument
   * Apple arm64 passes on the stack. macOS needs it after `accept`,
   * `socket`, `socketpair` and `recvmsg`, which cannot set it atomically
   * there.
   */
  readonly FIOCLEX: number;
}

/** Where one integer field of a struct lies: byte offset and width. */
export interface FieldLayout {
  /** Byte offset in the struct. */
  readonly offset: number;
  /** Width in bytes (little-endian; signed only where noted). */
  readonly size: 2 | 4 | 8;
}

/**
 * `struct stat` as the bound `fstat` fills it (macOS: `fstat64`, the
 * 64-bit-inode struct). Times are `struct timespec`: seconds (8 bytes) at
 * the offset, nanoseconds (8 bytes) right after.
 */
export interface StatLayout {
  /** `sizeof(struct stat)`. */
  readonly size: number;
  /** `st_dev`. */
  readonly dev: FieldLayout;
  /** `st_ino`. */
  readonly ino: FieldLayout;
  /** `st_mode`. */
  readonly mode: FieldLayout;
  /** `st_nlink`. */
  readonly nlink: FieldLayout;
  /** `st_uid`. */
  readonly uid: FieldLayout;
  /** `st_gid`. */
  readonly gid: FieldLayout;
  /** `st_rdev`. */
  readonly rdev: FieldLayout;
  /** `st_size` (signed). */
  readonly fileSize: FieldLayout;
  /** `st_blksize`. */
  readonly blksize: FieldLayout;
  /** `st_blocks`. */
  readonly blocks: FieldLayout;
  /** Offset of `st_atim` (macOS `st_atimespec`). */
  readonly atime: number;
  /** Offset of `st_mtim` (macOS `st_mtimespec`). */
  readonly mtime: number;
  /** Offset of `st_ctim` (macOS `st_ctimespec`). */
  readonly ctime: number;
}

/**
 * How `getsockopt` reports a connected peer's credentials: Linux's
 * `SO_PEERCRED` (`struct ucred`), or `LOCAL_PEERCRED` (`struct xucred`) on
 * macOS and FreeBSD.
 */
export interface PeerCredentialsLayout {
  /** The option level (`SOL_SOCKET` on Linux, `SOL_LOCAL` = 0 on the BSDs). */
  readonly level: number;
  /** The option name (`SO_PEERCRED` = 17, `LOCAL_PEERCRED` = 1). */
  readonly name: number;
  /** Size of the struct the option fills. */
  readonly size: number;
  /** Offset of the `int32` process ID, or -1 when the struct has none. */
  readonly pid: number;
  /** Offset of the `uint32` user ID. */
  readonly uid: number;
  /** Offset of the `uint32` (primary) group ID. */
  readonly gid: number;
  /**
   * An option at the same level giving the pid as an `int` when the struct
   * lacks it (macOS `LOCAL_PEERPID` = 2), 0 otherwise.
   */
  readonly pidOption: number;
}

/**
 * `fstatat` through `syscall(2)`, for telling whether a path is still the
 * socket file a listener created (device and inode) and whether a path
 * holds a socket. Linux only: glibc exports `fstatat` itself only from
 * 2.33. It fills the struct {@linkcode PlatformLayout.stat} describes.
 */
export interface FileStatLayout {
  /** `SYS_newfstatat` (x86_64) or `SYS_fstatat` (aarch64). */
  readonly syscall: number;
  /** `AT_FDCWD`: a relative path is resolved against the working directory. */
  readonly AT_FDCWD: number;
  /** `AT_SYMLINK_NOFOLLOW`: a link is described, not followed. */
  readonly AT_SYMLINK_NOFOLLOW: number;
}

/** Everything fdpass needs to know about one target. */
export interface PlatformLayout {
  /** Profile name, such as `"linux-x86_64"`. */
  readonly name: string;
  /** Operating system. */
  readonly os: OperatingSystem;
  /** CPU architecture. */
  readonly arch: Architecture;
  /** Every supported target is little-endian. */
  readonly littleEndian: true;
  /** Every supported target is LP64. */
  readonly pointerSize: 8;
  /** `struct msghdr`. */
  readonly msghdr: MsghdrLayout;
  /** `struct iovec`: base at 0, length at 8. */
  readonly iovecSize: number;
  /** `struct cmsghdr` and the `CMSG_*` macros. */
  readonly cmsghdr: CmsghdrLayout;
  /** `struct sockaddr_un`. */
  readonly sockaddrUn: SockaddrUnLayout;
  /** `struct epoll_event` and the epoll constants (Linux); `null` elsewhere. */
  readonly epollEvent: EpollEventLayout | null;
  /** `fstatat` through `syscall(2)` (Linux); `null` elsewhere. */
  readonly fileStat: FileStatLayout | null;
  /** `struct pollfd` and the poll bits. */
  readonly pollfd: PollfdLayout;
  /** `getsockopt` of the peer's credentials. */
  readonly peerCredentials: PeerCredentialsLayout;
  /** `struct stat`. */
  readonly stat: StatLayout;
  /** Socket, message, fcntl and poll constants. */
  readonly constants: SocketConstants;
  /** errno number for each name this platform defines. */
  readonly errno: ErrnoTable;
  /** The `SCM_MAX_FD` fdpass enforces: 253 everywhere (Linux's limit). */
  readonly maxFds: number;
}
