/**
 * Internal: one reusable `msghdr` + `iovec[]` + control buffer, built once per
 * socket and direction. The object owns the memory whose addresses it writes
 * into the `msghdr`, and it holds the caller's data buffers in `held` while a
 * call is in flight, so neither runtime can free what the kernel will touch.
 *
 * @module
 */

import type { Libc } from "./ffi/types.ts";
import { encodeRights } from "./platform/cmsg.ts";
import { encodeIovec, readControllen } from "./platform/msghdr.ts";
import type { PlatformLayout } from "./platform/types.ts";
import { writeWord } from "./platform/words.ts";

const MSGHDR_BYTES = 64;
const INLINE_IOVECS = 16;

/** The most iovecs one message may carry (Linux and BSD `IOV_MAX`). */
export const MAX_IOVECS = 1024;

/** Control bytes reserved: 253 fds plus room for credentials and a pidfd. */
const CONTROL_BYTES = 1024 + 64 + 64;

export class Message {
  readonly layout: PlatformLayout;
  readonly view: DataView;
  /** The `msghdr` itself, passed to sendmsg/recvmsg. */
  readonly msghdr: Uint8Array;
  readonly controlOffset: number;
  readonly controlCapacity = CONTROL_BYTES;
  /** The buffers whose addresses sit in the iovecs right now. */
  held: readonly Uint8Array[] = [];
  #iovCapacity: number;
  #iovOffset = MSGHDR_BYTES;
  #base: number;
  #libc: Libc;
  #bytes: Uint8Array;

  constructor(lib: Libc, iovecs = INLINE_IOVECS) {
    this.#libc = lib;
    this.layout = lib.platform;
    this.#iovCapacity = iovecs;
    this.controlOffset = MSGHDR_BYTES + iovecs * lib.platform.iovecSize;
    // A fresh ArrayBuffer (never a small inline typed array): its storage
    // does not move, so the address taken here stays valid while `this` lives.
    const buffer = new ArrayBuffer(this.controlOffset + CONTROL_BYTES);
    this.#bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.msghdr = this.#bytes.subarray(0, lib.platform.msghdr.size);
    this.#base = lib.address(this.#bytes);
    const m = this.layout.msghdr;
    writeWord(this.view, m.iov, this.#base + this.#iovOffset, 8);
  }

  /** Whether `count` iovecs fit; otherwise the caller builds a larger Message. */
  fits(count: number): boolean {
    return count <= this.#iovCapacity;
  }

  /**
   * Points the iovecs at `buffers`, skipping the first `skip` bytes (for the
   * rest of a partly sent stream message). Returns the bytes covered.
   */
  setIovecs(buffers: readonly Uint8Array[], skip: number): number {
    const lib = this.#libc;
    const size = this.layout.iovecSize;
    let count = 0;
    let total = 0;
    for (const buffer of buffers) {
      let length = buffer.byteLength;
      if (skip >= length) {
        skip -= length;
        continue;
      }
      let base = length === 0 ? 0 : lib.address(buffer);
      if (skip > 0) {
        base += skip;
        length -= skip;
        skip = 0;
      }
      encodeIovec(this.view, this.#iovOffset + count * size, base, length);
      count++;
      total += length;
    }
    const m = this.layout.msghdr;
    writeWord(this.view, m.iovlen, count, m.iovlenSize);
    this.held = buffers;
    return total;
  }

  /** Points the iovec at one buffer: the common case, without a loop. */
  setIovec(buffer: Uint8Array): number {
    const length = buffer.byteLength;
    const base = length === 0 ? 0 : this.#libc.address(buffer);
    encodeIovec(this.view, this.#iovOffset, base, length);
    const m = this.layout.msghdr;
    writeWord(this.view, m.iovlen, 1, m.iovlenSize);
    this.held = [buffer];
    return length;
  }

  /** Attaches one SCM_RIGHTS message with `fds` (at least one). */
  setRights(fds: readonly number[]): void {
    const length = encodeRights(
      this.view,
      this.controlOffset,
      fds,
      this.layout,
    );
    this.#setControl(this.#base + this.controlOffset, length);
  }

  /** Sends or receives without control data. */
  clearControl(): void {
    this.#setControl(0, 0);
  }

  /** Offers `length` bytes of control buffer to recvmsg and clears msg_flags. */
  prepareReceive(length: number): void {
    this.#setControl(this.#base + this.controlOffset, length);
    this.view.setInt32(this.layout.msghdr.flags, 0, true);
  }

  /** `msg_controllen` as recvmsg left it, clamped to what was offered. */
  receivedControlLength(offered: number): number {
    const length = readControllen(this.view, 0, this.layout);
    return length < offered ? length : offered;
  }

  /** Drops references to the caller's buffers once the call is over. */
  release(): void {
    this.held = [];
  }

  #setControl(address: number, length: number): void {
    const m = this.layout.msghdr;
    writeWord(this.view, m.control, address, 8);
    writeWord(this.view, m.controllen, length, m.controllenSize);
  }
}
