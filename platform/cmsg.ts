/**
 * The `CMSG_*` macros, the SCM_RIGHTS encoder, and a bounds-checked parser
 * for received control data. Every function takes the target's layout as a
 * parameter, so any profile can be tested on any host.
 *
 * @module
 */

import type { CmsghdrLayout, PlatformLayout } from "./types.ts";
import { readWord, writeWord } from "./words.ts";

/** `CMSG_ALIGN(length)`: rounds up to the platform's control alignment. */
export function cmsgAlign(cmsghdr: CmsghdrLayout, length: number): number {
  const mask = cmsghdr.align - 1;
  return (length + mask) & ~mask;
}

/** `CMSG_LEN(length)`: the `cmsg_len` of a message with `length` data bytes. */
export function cmsgLen(cmsghdr: CmsghdrLayout, length: number): number {
  return cmsghdr.dataOffset + length;
}

/** `CMSG_SPACE(length)`: the control bytes one message with `length` data bytes occupies. */
export function cmsgSpace(cmsghdr: CmsghdrLayout, length: number): number {
  return cmsghdr.dataOffset + cmsgAlign(cmsghdr, length);
}

/** `CMSG_DATA(cmsg) - cmsg`: where the data starts inside one message. */
export function cmsgData(cmsghdr: CmsghdrLayout): number {
  return cmsghdr.dataOffset;
}

/** Control buffer bytes needed to receive `maxFds` descriptors in one SCM_RIGHTS message. */
export function rightsSpace(layout: PlatformLayout, maxFds: number): number {
  return cmsgSpace(layout.cmsghdr, 4 * maxFds);
}

/**
 * Writes one SCM_RIGHTS message carrying `fds` at `offset` of `view` and
 * returns the `msg_controllen` to send it with. The bytes it covers are
 * zeroed first, so padding never carries stale data.
 */
export function encodeRights(
  view: DataView,
  offset: number,
  fds: readonly number[],
  layout: PlatformLayout,
): number {
  const header = layout.cmsghdr;
  const space = cmsgSpace(header, 4 * fds.length);
  for (let i = 0; i < space; i += 4) view.setUint32(offset + i, 0, true);
  writeWord(view, offset, cmsgLen(header, 4 * fds.length), header.lenSize);
  view.setInt32(offset + header.level, layout.constants.SOL_SOCKET, true);
  view.setInt32(offset + header.type, layout.constants.SCM_RIGHTS, true);
  const data = offset + header.dataOffset;
  for (let i = 0; i < fds.length; i++) {
    view.setInt32(data + 4 * i, fds[i] as number, true);
  }
  // xnu requires msg_controllen == cmsg_len; there CMSG_SPACE equals CMSG_LEN.
  return space;
}

/** Sender credentials carried by an SCM_CREDENTIALS message (Linux). */
export interface Credentials {
  /** Process ID of the sender. */
  readonly pid: number;
  /** User ID of the sender. */
  readonly uid: number;
  /** Group ID of the sender. */
  readonly gid: number;
}

/** What {@linkcode parseControl} found in a control buffer. */
export interface ParsedControl {
  /** Every descriptor of every SCM_RIGHTS message, in order. */
  readonly fds: number[];
  /** The last SCM_CREDENTIALS message, if any. */
  credentials: Credentials | null;
  /**
   * Descriptors the kernel installed besides SCM_RIGHTS: the sender's pidfd
   * of each SCM_PIDFD message (Linux, `SO_PASSPIDFD` on). Collected only
   * when the caller passes an array; they are the caller's to close.
   */
  pidfds?: number[];
  /**
   * How many control messages had a level or type the parser does not know
   * (and so cannot vouch carry no descriptor). Counted only when the
   * caller passes a number.
   */
  unknown?: number;
  /**
   * A header claimed fewer bytes than a header, ran past the buffer, or held a
   * negative descriptor. The fds that could be read are still in `fds`, so the
   * caller can close them.
   */
  malformed: boolean;
}

/**
 * Walks every control message in the first `length` bytes at `offset` of
 * `view`, with the bounds checks of CPython's `socketmodule.c`: a header must
 * fit, `cmsg_len` must cover at least a header, and data is clamped to the
 * buffer. Collects every SCM_RIGHTS descriptor into `result.fds`, every
 * SCM_PIDFD descriptor into `result.pidfds` (when given), and counts other
 * messages in `result.unknown` (when given). Never reads outside
 * `[offset, offset + length)` and always terminates.
 */
export function parseControl(
  view: DataView,
  offset: number,
  length: number,
  layout: PlatformLayout,
  result: ParsedControl,
): ParsedControl {
  const header = layout.cmsghdr;
  const { SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS, SCM_PIDFD } =
    layout.constants;
  let position = 0;
  while (position + header.size <= length) {
    const at = offset + position;
    const cmsgLength = readWord(view, at, header.lenSize);
    if (cmsgLength < header.size) {
      result.malformed = true;
      break;
    }
    const remaining = length - position;
    const available = cmsgLength < remaining ? cmsgLength : remaining;
    if (cmsgLength > remaining) result.malformed = true;
    const dataLength = available - header.dataOffset;
    const level = view.getInt32(at + header.level, true);
    const type = view.getInt32(at + header.type, true);
    const data = at + header.dataOffset;
    if (level !== SOL_SOCKET) {
      if (result.unknown !== undefined) result.unknown++;
    } else if (type === SCM_RIGHTS) {
      const count = dataLength > 0 ? dataLength >>> 2 : 0;
      for (let i = 0; i < count; i++) {
        const fd = view.getInt32(data + 4 * i, true);
        if (fd < 0) result.malformed = true;
        else result.fds.push(fd);
      }
    } else if (SCM_PIDFD !== 0 && type === SCM_PIDFD) {
      if (result.pidfds === undefined) {
        // Not asked for: the caller would not close it, so say so.
        if (result.unknown !== undefined) result.unknown++;
      } else if (dataLength >= 4) {
        const fd = view.getInt32(data, true);
        if (fd < 0) result.malformed = true;
        else result.pidfds.push(fd);
      }
    } else if (SCM_CREDENTIALS !== 0 && type === SCM_CREDENTIALS) {
      if (dataLength >= 12) {
        result.credentials = {
          pid: view.getInt32(data, true),
          uid: view.getUint32(data + 4, true),
          gid: view.getUint32(data + 8, true),
        };
      }
    } else if (result.unknown !== undefined) {
      result.unknown++;
    }
    if (cmsgLength >= remaining) break;
    position += cmsgAlign(header, cmsgLength);
  }
  return result;
}
