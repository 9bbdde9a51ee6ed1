/**
 * Decoding `struct stat` bytes into a {@linkcode FileInfo}, for any profile.
 *
 * @module
 */

import type {
  FieldLayout,
  PlatformLayout,
  SocketConstants,
  StatLayout,
} from "./types.ts";

/** `SEEK_*` and `S_IF*`: the same numbers on Linux, macOS and FreeBSD. */
export const FILE_CONSTANTS = {
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

/** What kind of file a descriptor refers to (the `S_IFMT` bits of `st_mode`). */
export type FileType =
  | "file"
  | "directory"
  | "pipe"
  | "socket"
  | "character"
  | "block"
  | "symlink"
  | "unknown";

/**
 * Metadata of an open file, as `fstat(2)` reports it. Numbers above 2^53
 * (a 64-bit inode or device number on some file systems) lose precision.
 */
export interface FileInfo {
  /** The file type. Anonymous kernel objects (eventfd, epoll) are `"unknown"`. */
  readonly type: FileType;
  /** Size in bytes (0 for pipes and sockets on most systems). */
  readonly size: number;
  /** The whole `st_mode`: type bits and permission bits (`mode & 0o7777`). */
  readonly mode: number;
  /** Inode number. */
  readonly ino: number;
  /** ID of the device holding the file. */
  readonly dev: number;
  /** Device ID, for character and block devices. */
  readonly rdev: number;
  /** Number of hard links. */
  readonly nlink: number;
  /** Owner's user ID. */
  readonly uid: number;
  /** Owner's group ID. */
  readonly gid: number;
  /** Preferred I/O block size. */
  readonly blksize: number;
  /** 512-byte blocks allocated. */
  readonly blocks: number;
  /** Last access. */
  readonly atime: Date;
  /** Last modification of the contents. */
  readonly mtime: Date;
  /** Last status change. */
  readonly ctime: Date;
}

function field(view: DataView, f: FieldLayout, signed = false): number {
  switch (f.size) {
    case 2:
      return view.getUint16(f.offset, true);
    case 4:
      return signed
        ? view.getInt32(f.offset, true)
        : view.getUint32(f.offset, true);
    case 8:
      return Number(
        signed
          ? view.getBigInt64(f.offset, true)
          : view.getBigUint64(f.offset, true),
      );
  }
}

function time(view: DataView, offset: number): Date {
  const seconds = Number(view.getBigInt64(offset, true));
  const nanoseconds = Number(view.getBigInt64(offset + 8, true));
  return new Date(seconds * 1000 + Math.floor(nanoseconds / 1e6));
}

/** The {@linkcode FileType} of an `st_mode`. */
export function fileType(mode: number, c: SocketConstants): FileType {
  switch (mode & c.S_IFMT) {
    case c.S_IFREG:
      return "file";
    case c.S_IFDIR:
      return "directory";
    case c.S_IFIFO:
      return "pipe";
    case c.S_IFSOCK:
      return "socket";
    case c.S_IFCHR:
      return "character";
    case c.S_IFBLK:
      return "block";
    case c.S_IFLNK:
      return "symlink";
    default:
      return "unknown";
  }
}

/**
 * Decodes the `struct stat` in `bytes` (at least `platform.stat.size` long)
 * as `platform` lays it out.
 *
 * @example Decode a stat buffer of another platform
 * ```ts
 * import { decodeStat, LINUX_AARCH64 } from "./mod.ts";
 *
 * const bytes = new Uint8Array(LINUX_AARCH64.stat.size);
 * const view = new DataView(bytes.buffer);
 * view.setUint32(LINUX_AARCH64.stat.mode.offset, 0o100644, true);
 * view.setBigInt64(LINUX_AARCH64.stat.fileSize.offset, 42n, true);
 * const info = decodeStat(bytes, LINUX_AARCH64);
 * console.log(info.type, info.size); // file 42
 * ```
 */
export function decodeStat(
  bytes: Uint8Array,
  platform: PlatformLayout,
): FileInfo {
  const s: StatLayout = platform.stat;
  if (bytes.byteLength < s.size) {
    throw new RangeError(
      `Cannot decode struct stat: ${bytes.byteLength} bytes, ${platform.name} needs ${s.size}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, s.size);
  const mode = field(view, s.mode);
  return {
    type: fileType(mode, platform.constants),
    size: field(view, s.fileSize, true),
    mode,
    ino: field(view, s.ino),
    dev: field(view, s.dev),
    rdev: field(view, s.rdev),
    nlink: field(view, s.nlink),
    uid: field(view, s.uid),
    gid: field(view, s.gid),
    blksize: field(view, s.blksize, true),
    blocks: field(view, s.blocks, true),
    atime: time(view, s.atime),
    mtime: time(view, s.mtime),
    ctime: time(view, s.ctime),
  };
}
