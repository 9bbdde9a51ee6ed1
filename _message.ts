/**
 * Internal: one reusable `msghdr` + `iovec[]` + control buffer, built once per
 * socket and direction, so the hot path allocates nothing and touches one
 * small buffer. The object owns the memory whose addresses it writes into the
 * `msghdr`; the caller's data buffers are arguments of the synchronous
 * syscall that uses their addresses, so they are reachable until it returns.
 *
 * All offsets are precomputed from the layout in 32-bit words: the targets are
 * little-endian, so a 64-bit field is its low word then a zero high word.
 *
 * @module
 */

import type { Libc } from "./ffi/types.ts";
import { cmsgLen, cmsgSpace } from "./platform/cmsg.ts";
import type { PlatformLayout } from "./platform/types.ts";
import { viewLength } from "./platform/_views.ts";

const MSGHDR_BYTES = 64;
const INLINE_IOVECS = 16;
const TWO_32 = 0x1_0000_0000;

/**
 * The most bytes one `sendmsg`/`recvmsg` moves: Linux's `MAX_RW_COUNT`
 * (`INT_MAX` rounded down to a page). Each iovec and their total are clamped
 * to it, so a length never needs more than 32 bits (a buffer of 4 GiB would
 * otherwise be written as 0) and the `i32` result always holds the count.
 */
export const MAX_CALL_BYTES = 0x7fff_f000;

/** The most iovecs one message may carry (Linux and BSD `IOV_MAX`). */
export const MAX_IOVECS = 1024;

/** Control bytes reserved: 253 fds plus room for credentials and a pidfd. */
const CONTROL_BYTES = 1024 + 64 + 64;

/** Room for one `sockaddr_un` (110 bytes on Linux, 106 on the BSDs). */
const NAME_BYTES = 112;

export class Message {
  readonly layout: PlatformLayout;
  readonly view: DataView;
  /** The `msghdr` itself, passed to sendmsg/recvmsg. */
  readonly msghdr: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** Byte offset of the control buffer. */
  readonly controlOffset: number;
  /** Byte offset of the `sockaddr_un` that `msg_name` points at when used. */
  readonly nameOffset: number;
  /** The `sockaddr_un` buffer itself: a sender's address after recvmsg. */
  readonly name: Uint8Array;
  readonly #iovCapacity: number;
  readonly #iovWord: number;
  readonly #iovlenWord: number;
  readonly #controllenWord: number;
  readonly #flagsWord: number;
  readonly #cmsgLenWord: number;
  readonly #cmsgDataWord: number;
  readonly #cmsgDataOffset: number;
  readonly #cmsgAlign: number;
  readonly #cmsgLevelWord: number;
  readonly #cmsgTypeWord: number;
  readonly #cmsgWideLength: boolean;
  readonly #solSocket: number;
  readonly #scmRights: number;
  readonly #address: (view: ArrayBufferView) => number;
  readonly #nameWord: number;
  readonly #namelenWord: number;
  readonly #nameAddress: number;
  /** `msg_namelen` to offer recvmsg: 0 (no sender address) until {@linkcode receiveNames}. */
  #receiveNameLength = 0;
  /** The encoded destination last copied into the name buffer. */
  #copied: Uint8Array | undefined;
  /** Whether `msg_name` points at a destination now. */
  #named = false;

  constructor(lib: Libc, iovecs: number = INLINE_IOVECS) {
    const layout = lib.platform;
    const m = layout.msghdr;
    const h = layout.cmsghdr;
    this.layout = layout;
    this.#address = lib.address;
    this.#iovCapacity = iovecs;
    this.controlOffset = MSGHDR_BYTES + iovecs * layout.iovecSize;
    // A fresh ArrayBuffer (never a small inline typed array): its storage
    // does not move, so the address taken here stays valid while `this` lives.
    this.nameOffset = this.controlOffset + CONTROL_BYTES;
    const buffer = new ArrayBuffer(this.nameOffset + NAME_BYTES);
    const bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.msghdr = bytes.subarray(0, m.size);
    this.name = bytes.subarray(this.nameOffset);
    this.#iovWord = MSGHDR_BYTES / 4;
    this.#iovlenWord = m.iovlen / 4;
    this.#controllenWord = m.controllen / 4;
    this.#flagsWord = m.flags / 4;
    this.#cmsgLenWord = this.controlOffset / 4;
    this.#cmsgDataOffset = h.dataOffset;
    this.#cmsgDataWord = (this.controlOffset + h.dataOffset) / 4;
    this.#cmsgAlign = h.align;
    this.#cmsgLevelWord = (this.controlOffset + h.level) / 4;
    this.#cmsgTypeWord = (this.controlOffset + h.type) / 4;
    this.#cmsgWideLength = h.lenSize === 8;
    this.#solSocket = layout.constants.SOL_SOCKET;
    this.#scmRights = layout.constants.SCM_RIGHTS;
    this.#nameWord = m.name / 4;
    this.#namelenWord = m.namelen / 4;
    const base = lib.address(bytes);
    this.#nameAddress = base + this.nameOffset;
    this.#writeAddress(m.iov / 4, base + MSGHDR_BYTES);
    // msg_control always points at the buffer; msg_controllen 0 means none.
    this.#writeAddress(m.control / 4, base + this.controlOffset);
    // The SCM_RIGHTS header is the same for every send.
    this.i32[(this.controlOffset + h.level) / 4] = layout.constants.SOL_SOCKET;
    this.i32[(this.controlOffset + h.type) / 4] = layout.constants.SCM_RIGHTS;
  }

  /** Whether `count` iovecs fit; otherwise the caller builds a larger Message. */
  fits(count: number): boolean {
    return count <= this.#iovCapacity;
  }

  /**
   * Points the iovec at one buffer of `length` bytes (its real length, read
   * by the caller through `platform/_views.ts`): the common case. Returns
   * the bytes covered, at most {@linkcode MAX_CALL_BYTES}.
   */
  setIovec(buffer: Uint8Array, length: number): number {
    if (length > MAX_CALL_BYTES) length = MAX_CALL_BYTES;
    const word = this.#iovWord;
    this.#writeAddress(word, length === 0 ? 0 : this.#address(buffer));
    // iov_len's high word stays 0: no length reaches 2^32.
    const u32 = this.u32;
    u32[word + 2] = length;
    u32[this.#iovlenWord] = 1;
    return length;
  }

  /**
   * Points the iovecs at `buffers` (checked `Uint8Array`s), skipping the
   * first `skip` bytes (for the rest of a partly sent stream message) and
   * covering at most `limit` bytes (clamped to {@linkcode MAX_CALL_BYTES}).
   * Each length is read again here from the engine, so a buffer that shrank
   * or was detached since it was checked covers only what it still holds.
   * Returns the bytes covered.
   */
  setIovecs(
    buffers: readonly Uint8Array[],
    skip: number,
    limit: number,
  ): number {
    if (limit > MAX_CALL_BYTES) limit = MAX_CALL_BYTES;
    const u32 = this.u32;
    let word = this.#iovWord;
    let count = 0;
    let total = 0;
    const n = buffers.length;
    for (let i = 0; i < n && total < limit; i++) {
      const buffer = buffers[i]!;
      let length = viewLength(buffer);
      if (skip >= length) {
        skip -= length;
        continue;
      }
      const base = this.#address(buffer) + skip;
      length -= skip;
      skip = 0;
      if (length > limit - total) length = limit - total;
      this.#writeAddress(word, base);
      u32[word + 2] = length;
      word += 4;
      count++;
      total += length;
    }
    if (count === 0) {
      // qemu-user skips sendmsg/recvmsg when msg_iovlen is 0; one empty
      // iovec is the same message to the kernel.
      this.#writeAddress(word, 0);
      u32[word + 2] = 0;
      count = 1;
    }
    u32[this.#iovlenWord] = count;
    return total;
  }

  /**
   * {@linkcode Message.setIovecs} for a single buffer, without an array:
   * its length is read again from the engine, so a buffer that shrank or
   * was detached since it was checked covers only what it still holds.
   */
  setIovecOf(buffer: Uint8Array, skip: number, limit: number): number {
    if (limit > MAX_CALL_BYTES) limit = MAX_CALL_BYTES;
    let length = viewLength(buffer) - skip;
    if (length > limit) length = limit;
    const word = this.#iovWord;
    const u32 = this.u32;
    // No bytes: one empty iovec (see setIovecs), never the view's address.
    if (length <= 0) length = 0;
    this.#writeAddress(word, length === 0 ? 0 : this.#address(buffer) + skip);
    u32[word + 2] = length;
    u32[this.#iovlenWord] = 1;
    return length;
  }

  /** Attaches one SCM_RIGHTS message carrying `fds` (1 to 253 numbers). */
  setRights(fds: readonly number[]): void {
    const n = fds.length;
    const i32 = this.i32;
    const data = this.#cmsgDataWord;
    for (let i = 0; i < n; i++) i32[data + i] = fds[i]!;
    const payload = 4 * n;
    const space = this.#cmsgDataOffset +
      ((payload + this.#cmsgAlign - 1) & -this.#cmsgAlign);
    // Zero the alignment padding after the last fd.
    for (let at = data + n; at < this.#cmsgLenWord + space / 4; at++) {
      i32[at] = 0;
    }
    this.u32[this.#cmsgLenWord] = this.#cmsgDataOffset + payload;
    // cmsg_len and msg_controllen are 8 bytes on Linux: high words stay 0.
    this.u32[this.#controllenWord] = space;
  }

  /** Sends without control data. */
  clearControl(): void {
    this.u32[this.#controllenWord] = 0;
  }

  /**
   * Addresses a send to `name`, a whole encoded `sockaddr_un` (at most
   * 112 bytes) whose `addrlen` is `length`, until {@linkcode clearName}. The bytes are copied unless they are the
   * ones the last call copied (encoded destinations are never changed).
   */
  setName(name: Uint8Array, length: number): void {
    if (this.#copied !== name) {
      this.name.set(name);
      this.#copied = name;
    }
    this.#writeAddress(this.#nameWord, this.#nameAddress);
    this.u32[this.#namelenWord] = length;
    this.#named = true;
  }

  /**
   * Sends to the connected peer again: `msg_name` NULL and `msg_namelen` 0
   * (the BSDs refuse a non-NULL name of length 0). Nothing to do unless
   * {@linkcode setName} was called.
   */
  clearName(): void {
    if (!this.#named) return;
    this.#writeAddress(this.#nameWord, 0);
    this.u32[this.#namelenWord] = 0;
    this.#named = false;
  }

  /**
   * Has every later recvmsg write the sender's address into the name
   * buffer (for datagram sockets, where senders differ).
   */
  receiveNames(): void {
    this.#writeAddress(this.#nameWord, this.#nameAddress);
    this.#receiveNameLength = this.layout.sockaddrUn.size;
  }

  /** Offers `length` bytes of control buffer to recvmsg and clears msg_flags. */
  prepareReceive(length: number): void {
    const u32 = this.u32;
    u32[this.#controllenWord] = length;
    u32[this.#controllenWord + 1] = 0;
    u32[this.#flagsWord] = 0;
    u32[this.#namelenWord] = this.#receiveNameLength;
  }

  /** `msg_namelen` as recvmsg left it, clamped to the name buffer. */
  receivedNameLength(): number {
    const length = this.u32[this.#namelenWord]!;
    return length < this.#receiveNameLength ? length : this.#receiveNameLength;
  }

  /** `msg_controllen` as recvmsg left it, clamped to what was offered. */
  receivedControlLength(offered: number): number {
    const length = this.u32[this.#controllenWord]!;
    return length < offered ? length : offered;
  }

  /**
   * The number of descriptors when the first `length` control bytes hold
   * exactly one well-formed SCM_RIGHTS message (the usual case), else -1:
   * the caller then runs the general parser.
   */
  singleRights(length: number): number {
    const u32 = this.u32;
    const cmsgLength = u32[this.#cmsgLenWord]!;
    if (this.#cmsgWideLength && u32[this.#cmsgLenWord + 1] !== 0) return -1;
    const payload = cmsgLength - this.#cmsgDataOffset;
    if (payload <= 0 || cmsgLength > length || (payload & 3) !== 0) return -1;
    const i32 = this.i32;
    if (
      i32[this.#cmsgLevelWord] !== this.#solSocket ||
      i32[this.#cmsgTypeWord] !== this.#scmRights
    ) return -1;
    const space = (cmsgLength + this.#cmsgAlign - 1) & -this.#cmsgAlign;
    if (space < length) return -1;
    const count = payload >>> 2;
    for (let i = 0; i < count; i++) {
      if (i32[this.#cmsgDataWord + i]! < 0) return -1;
    }
    return count;
  }

  /** Descriptor `i` of the SCM_RIGHTS message {@linkcode singleRights} found. */
  rightsAt(i: number): number {
    return this.i32[this.#cmsgDataWord + i]!;
  }

  /** `msg_flags` as recvmsg left it. */
  receivedFlags(): number {
    return this.i32[this.#flagsWord]!;
  }

  #writeAddress(word: number, address: number): void {
    // A Uint32Array keeps a number modulo 2^32, its fraction dropped
    // (ToUint32): the low word is the address itself, the high word its
    // quotient. (`%` and Math.floor cost more: V8 calls fmod for `%`.)
    const u32 = this.u32;
    u32[word] = address;
    u32[word + 1] = address / TWO_32;
  }
}

/**
 * Control bytes to offer for at most `maxFds` descriptors. Linux installs
 * `(msg_controllen - header) / 4` fds, so `CMSG_SPACE` (rounded up to 8)
 * would let one more through for an odd `maxFds`: offer exactly
 * `CMSG_LEN`. The BSDs expect whole `CMSG_SPACE` buffers; the receive path
 * still rejects any surplus there.
 */
export function controlSpace(layout: PlatformLayout, maxFds: number): number {
  return layout.os === "linux"
    ? cmsgLen(layout.cmsghdr, 4 * maxFds)
    : cmsgSpace(layout.cmsghdr, 4 * maxFds);
}
