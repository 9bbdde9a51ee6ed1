/**
 * Encoding of `struct msghdr` and `struct iovec`.
 *
 * @module
 */

import type { PlatformLayout } from "./types.ts";
import { readWord, writeWord } from "./words.ts";

/** Field values of one `struct msghdr`; addresses are plain numbers. */
export interface MsghdrFields {
  /** `msg_name` address. */
  name: number;
  /** `msg_namelen`. */
  namelen: number;
  /** `msg_iov` address. */
  iov: number;
  /** `msg_iovlen`: iovec count. */
  iovlen: number;
  /** `msg_control` address. */
  control: number;
  /** `msg_controllen`. */
  controllen: number;
}

/**
 * Writes a whole `msghdr` at `offset`, zeroing it first so padding and
 * `msg_flags` are 0 (musl relies on zeroed pads).
 */
export function encodeMsghdr(
  view: DataView,
  offset: number,
  layout: PlatformLayout,
  fields: MsghdrFields,
): void {
  const m = layout.msghdr;
  for (let i = 0; i < m.size; i += 4) view.setUint32(offset + i, 0, true);
  writeWord(view, offset + m.name, fields.name, 8);
  view.setUint32(offset + m.namelen, fields.namelen, true);
  writeWord(view, offset + m.iov, fields.iov, 8);
  writeWord(view, offset + m.iovlen, fields.iovlen, m.iovlenSize);
  writeWord(view, offset + m.control, fields.control, 8);
  writeWord(view, offset + m.controllen, fields.controllen, m.controllenSize);
}

/** Writes one `struct iovec` (base, length) at `offset`. */
export function encodeIovec(
  view: DataView,
  offset: number,
  base: number,
  length: number,
): void {
  writeWord(view, offset, base, 8);
  writeWord(view, offset + 8, length, 8);
}

/** Reads `msg_controllen` as the kernel left it after `recvmsg`. */
export function readControllen(
  view: DataView,
  offset: number,
  layout: PlatformLayout,
): number {
  const m = layout.msghdr;
  return readWord(view, offset + m.controllen, m.controllenSize);
}

/** Reads `msg_flags` as the kernel left it after `recvmsg`. */
export function readMsgFlags(
  view: DataView,
  offset: number,
  layout: PlatformLayout,
): number {
  return view.getInt32(offset + layout.msghdr.flags, true);
}
