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
  readonly size: number;
  readonly name: number;
  readonly namelen: number;
  readonly iov: number;
  readonly iovlen: number;
  /** 8 where `msg_iovlen` is a `size_t`, 4 where it is an `int`. */
  readonly iovlenSize: 4 | 8;
  readonly control: number;
  readonly controllen: number;
  /** 8 where `msg_controllen` is a `size_t`, 4 where it is a `socklen_t`. */
  readonly controllenSize: 4 | 8;
  readonly flags: number;
}

/** Layout of `struct cmsghdr` and the `CMSG_*` macros. */
export interface CmsghdrLayout {
  /** `sizeof(struct cmsghdr)`. */
  readonly size: number;
  /** Size of `cmsg_len`: 8 (`size_t`) on Linux, 4 (`socklen_t`) on the BSDs. */
  readonly lenSize: 4 | 8;
  readonly level: number;
  readonly type: number;
  /** `CMSG_DATA(cmsg) - cmsg`. */
  readonly dataOffset: number;
  /** The alignment `CMSG_ALIGN` rounds to. */
  readonly align: number;
}

/** Layout of `struct sockaddr_un`. */
export interface SockaddrUnLayout {
  readonly size: number;
  /** Offset of `sun_len` (BSDs) or -1 where there is none (Linux). */
  readonly len: number;
  readonly family: number;
  /** Size of `sun_family`: 2 on Linux, 1 on the BSDs. */
  readonly familySize: 1 | 2;
  readonly path: number;
  /** Bytes of `sun_path`. */
  readonly pathSize: number;
  /** Whether `sun_path[0] == 0` names an abstract socket (Linux only). */
  readonly abstract: boolean;
}

/** Layout of `struct epoll_event` and the epoll constants (Linux only). */
export interface EpollEventLayout {
  readonly size: number;
  readonly events: number;
  readonly data: number;
  readonly EPOLLIN: number;
  readonly EPOLLOUT: number;
  readonly EPOLLERR: number;
  readonly EPOLLHUP: number;
  readonly EPOLLRDHUP: number;
  readonly EPOLLONESHOT: number;
  readonly EPOLL_CTL_ADD: number;
  readonly EPOLL_CTL_DEL: number;
  readonly EPOLL_CTL_MOD: number;
  readonly EPOLL_CLOEXEC: number;
  readonly EFD_CLOEXEC: number;
  readonly EFD_NONBLOCK: number;
}

/** Socket, message and option constants. `0` means the platform has none. */
export interface SocketConstants {
  readonly AF_UNIX: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_SEQPACKET: number;
  readonly SOCK_NONBLOCK: number;
  readonly SOCK_CLOEXEC: number;
  readonly SOL_SOCKET: number;
  readonly SCM_RIGHTS: number;
  readonly SCM_CREDENTIALS: number;
  readonly SO_TYPE: number;
  readonly SO_ERROR: number;
  readonly SO_SNDBUF: number;
  readonly SO_RCVBUF: number;
  readonly SO_PASSCRED: number;
  readonly SO_PEERCRED: number;
  readonly SO_NOSIGPIPE: number;
  readonly MSG_PEEK: number;
  readonly MSG_CTRUNC: number;
  readonly MSG_TRUNC: number;
  readonly MSG_DONTWAIT: number;
  readonly MSG_WAITALL: number;
  readonly MSG_NOSIGNAL: number;
  readonly MSG_CMSG_CLOEXEC: number;
  readonly SHUT_RD: number;
  readonly SHUT_WR: number;
  readonly SHUT_RDWR: number;
  readonly F_GETFD: number;
  readonly F_SETFD: number;
  readonly F_GETFL: number;
  readonly F_SETFL: number;
  readonly F_DUPFD_CLOEXEC: number;
  readonly FD_CLOEXEC: number;
  readonly O_NONBLOCK: number;
  readonly O_CLOEXEC: number;
  readonly POLLIN: number;
  readonly POLLOUT: number;
}

/** Everything fdpass needs to know about one target. */
export interface PlatformLayout {
  readonly name: string;
  readonly os: OperatingSystem;
  readonly arch: Architecture;
  readonly littleEndian: true;
  readonly pointerSize: 8;
  readonly msghdr: MsghdrLayout;
  /** `struct iovec`: base at 0, length at 8. */
  readonly iovecSize: number;
  readonly cmsghdr: CmsghdrLayout;
  readonly sockaddrUn: SockaddrUnLayout;
  /** `struct pollfd` is 8 bytes everywhere: fd, events, revents. */
  readonly epollEvent: EpollEventLayout | null;
  readonly constants: SocketConstants;
  /** errno number for each name this platform defines. */
  readonly errno: ErrnoTable;
  /** The `SCM_MAX_FD` fdpass enforces: 253 everywhere (Linux's limit). */
  readonly maxFds: number;
}
