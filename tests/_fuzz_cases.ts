/**
 * The control-message fuzzer shared by `tests/fuzz_test.ts` (a quick run in
 * the suite) and `scripts/fuzz.ts` (10^5 cases): a seeded generator of
 * random, truncated and adversarial control buffers, a reference model of
 * parseControl's contract written from semantics.md §4 ("Recommended
 * algorithms", step 4, with CPython's checks), and the properties checked on
 * each case. Pure TypeScript: no FFI, no runtime API.
 *
 * Properties, per case and profile:
 * - parseControl terminates (a read budget turns a loop into a failure), never
 *   throws and returns the result object it was given;
 * - it reads nothing outside `[offset, offset + msg_controllen)` and writes
 *   nothing (a DataView subclass checks every access; an exact-size copy
 *   would throw a RangeError; two embeddings with different sentinel bytes
 *   and a tempting SCM_RIGHTS message past the end must give one answer);
 * - its fds, credentials and `malformed` equal the model's, whose fds all lie
 *   inside both their message's `cmsg_len` and `msg_controllen`;
 * - the receive path's fast path (`Message.singleRights`) agrees with it.
 *
 * @module
 */

import {
  parseControl,
  type ParsedControl,
  type PlatformLayout,
} from "../platform/mod.ts";
import { Message } from "../_message.ts";
import type { Libc } from "../ffi/types.ts";

/** mulberry32: a small, fast, well-mixed 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** The seed of case `index` of a run: each case reproduces on its own. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

class Random {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  /** An integer in [low, high]. */
  range(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  u32(): number {
    return this.int(0x1_0000_0000);
  }
}

/** One generated control buffer. */
export interface FuzzCase {
  /** The bytes the "kernel" wrote, possibly more than msg_controllen. */
  readonly bytes: Uint8Array;
  /** msg_controllen: how many of `bytes` parseControl may read. */
  readonly length: number;
  /** Which generator made it, for failure reports. */
  readonly mode: string;
}

/** Writes control messages where a parser stepping by CMSG_ALIGN looks for them. */
class Writer {
  bytes: Uint8Array = new Uint8Array(256);
  view: DataView = new DataView(this.bytes.buffer);
  /** Where the next header goes. */
  at = 0;
  /** The furthest byte written. */
  end = 0;

  constructor(readonly layout: PlatformLayout) {}

  reserve(size: number): void {
    if (size <= this.bytes.length) return;
    const bytes = new Uint8Array(Math.max(size, 2 * this.bytes.length));
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  fill(from: number, to: number, byte: number | (() => number)): void {
    this.reserve(to);
    for (let i = from; i < to; i++) {
      this.bytes[i] = typeof byte === "number" ? byte : byte();
    }
    this.end = Math.max(this.end, to);
  }

  /**
   * A header with `cmsgLen` (and a 64-bit high half on Linux), then `payload`
   * at CMSG_DATA; the next header goes CMSG_ALIGN(cmsgLen) further on.
   */
  message(
    cmsgLen: number,
    level: number,
    type: number,
    payload: Uint8Array,
    padding: number | (() => number),
    high = 0,
  ): void {
    const h = this.layout.cmsghdr;
    const start = this.at;
    const dataEnd = start + h.dataOffset + payload.length;
    const step = alignUp(cmsgLen, h.align);
    this.fill(start, Math.max(dataEnd, start + h.size), padding);
    this.view.setUint32(start, cmsgLen >>> 0, true);
    if (h.lenSize === 8) this.view.setUint32(start + 4, high >>> 0, true);
    this.view.setInt32(start + h.level, level, true);
    this.view.setInt32(start + h.type, type, true);
    this.bytes.set(payload, start + h.dataOffset);
    // The next header goes where a parser stepping by CMSG_ALIGN(cmsg_len)
    // looks; after a cmsg_len no parser follows (below a header, or huge),
    // where the kernel would have put it, as bait.
    const next = step >= h.size && step < 4096
      ? step
      : alignUp(dataEnd - start, h.align);
    this.fill(dataEnd, Math.max(dataEnd, start + next), padding);
    this.at = start + next;
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function ints(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * values.length);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setInt32(4 * i, v, true));
  return bytes;
}

function randomFd(random: Random): number {
  const roll = random.int(100);
  if (roll < 2) {
    return random.pick([-1, -2, -0x80000000, -(random.u32() >>> 1) - 1]);
  }
  if (roll < 10) return random.pick([0, 1, 2, 0x7fffffff, 0x7ffffffe]);
  if (roll < 20) return random.u32() >>> 1;
  return random.int(4096);
}

function randomPayload(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

/** Filler bytes: kernel zeros, the 0xAA of semantics.md §5, or noise. */
function filler(random: Random): number | (() => number) {
  switch (random.int(4)) {
    case 0:
    case 1:
      return 0;
    case 2:
      return 0xaa;
    default:
      return () => random.int(256);
  }
}

/** A cmsg_len chosen to break a parser (semantics.md §5 item 3). */
function adversarialLength(
  random: Random,
  layout: PlatformLayout,
  remaining: number,
): number {
  const h = layout.cmsghdr;
  return random.pick([
    0,
    1,
    4,
    8,
    11,
    12,
    13,
    15,
    16,
    17,
    h.size - 1,
    h.size,
    h.dataOffset,
    h.dataOffset + 1,
    remaining,
    remaining + 1,
    remaining + random.range(2, 64),
    0x7fffffff,
    0x80000000,
    0xffffffff,
    random.u32(),
  ]);
}

function walk(random: Random, layout: PlatformLayout, mode: string): Writer {
  const h = layout.cmsghdr;
  const c = layout.constants;
  const writer = new Writer(layout);
  const pad = filler(random);
  const count = mode === "empties" ? random.range(10, 150) : random.range(1, 8);
  for (let m = 0; m < count; m++) {
    const kind = mode === "empties" && random.chance(0.9)
      ? "empty"
      : random.pick([
        "rights",
        "rights",
        "rights",
        "rights",
        "credentials",
        "credentials",
        "unknown",
        "unknown",
        "empty",
        "ragged",
        "bad",
      ]);
    switch (kind) {
      case "rights": {
        const n = random.chance(0.05) ? random.range(100, 253) : random.int(6);
        const fds = Array.from({ length: n }, () => randomFd(random));
        const payload = ints(fds);
        writer.message(
          h.dataOffset + payload.length,
          c.SOL_SOCKET,
          c.SCM_RIGHTS,
          payload,
          pad,
        );
        break;
      }
      case "credentials": {
        // Linux SCM_CREDENTIALS; on the BSDs the same numbers are unknown.
        const size = random.pick([12, 12, 12, 8, 11, 16]);
        writer.message(
          h.dataOffset + size,
          c.SOL_SOCKET,
          random.chance(0.8) ? 2 : 3,
          randomPayload(random, size),
          pad,
        );
        break;
      }
      case "unknown": {
        const size = random.int(24);
        writer.message(
          h.dataOffset + size,
          random.pick([0, 6, 41, 1, 0xffff, -1, random.u32() | 0]),
          random.pick([0, 1, 2, 3, 4, 99, -1, random.u32() | 0]),
          randomPayload(random, size),
          pad,
        );
        break;
      }
      case "empty":
        writer.message(
          random.pick([h.size, h.dataOffset]),
          c.SOL_SOCKET,
          random.chance(0.7) ? c.SCM_RIGHTS : random.int(5),
          new Uint8Array(0),
          pad,
        );
        break;
      case "ragged": {
        // A payload that is not a whole number of fds.
        const size = random.range(1, 15);
        writer.message(
          h.dataOffset + size,
          c.SOL_SOCKET,
          c.SCM_RIGHTS,
          randomPayload(random, size),
          pad,
        );
        break;
      }
      default: {
        const fds = Array.from(
          { length: random.int(4) },
          () => randomFd(random),
        );
        writer.message(
          adversarialLength(random, layout, 4 * fds.length + 64),
          c.SOL_SOCKET,
          c.SCM_RIGHTS,
          ints(fds),
          pad,
          h.lenSize === 8 && random.chance(0.2) ? random.u32() : 0,
        );
      }
    }
  }
  return writer;
}

/**
 * What a kernel writes: SCM_RIGHTS (mostly alone, as fdpass receives it),
 * sometimes after SCM_CREDENTIALS, zero padding, and a `msg_controllen` that
 * ends at the last message's CMSG_SPACE or CMSG_LEN.
 */
function kernelCase(random: Random, layout: PlatformLayout): FuzzCase {
  const h = layout.cmsghdr;
  const c = layout.constants;
  const writer = new Writer(layout);
  if (c.SCM_CREDENTIALS !== 0 && random.chance(0.3)) {
    const ucred = ints([
      random.range(1, 4194304),
      random.int(65536),
      random.int(65536),
    ]);
    writer.message(
      h.dataOffset + 12,
      c.SOL_SOCKET,
      c.SCM_CREDENTIALS,
      ucred,
      0,
    );
  }
  const n = random.chance(0.1) ? random.range(1, 253) : random.range(1, 4);
  const fds = Array.from({ length: n }, () => random.range(3, 65535));
  const payload = ints(fds);
  const start = writer.at;
  writer.message(
    h.dataOffset + payload.length,
    c.SOL_SOCKET,
    c.SCM_RIGHTS,
    payload,
    0,
  );
  const length = random.chance(0.5)
    ? writer.at
    : start + h.dataOffset + payload.length;
  return { bytes: writer.bytes.slice(0, writer.at), length, mode: "kernel" };
}

/** One random case for `layout`. */
export function generateCase(seed: number, layout: PlatformLayout): FuzzCase {
  const random = new Random(seed);
  const roll = random.int(100);
  const mode = roll < 15
    ? "kernel"
    : roll < 45
    ? "walk"
    : roll < 55
    ? "empties"
    : roll < 75
    ? "mutated"
    : roll < 90
    ? "truncated"
    : "noise";
  if (mode === "kernel") return kernelCase(random, layout);
  if (mode === "noise") {
    const size = random.int(random.chance(0.5) ? 48 : 300);
    const bytes = new Uint8Array(size);
    const alphabet = [0, 0, 0, 0xff, 0x01, 0x10, 0x0c, 0x14, 0xaa];
    for (let i = 0; i < size; i++) {
      bytes[i] = random.chance(0.5) ? random.pick(alphabet) : random.int(256);
    }
    return {
      bytes,
      length: random.chance(0.8) ? size : random.int(size + 1),
      mode,
    };
  }
  const writer = walk(random, layout, mode);
  if (random.chance(0.3)) {
    writer.fill(writer.end, writer.end + random.range(1, 24), 0xaa);
  }
  const bytes = writer.bytes.slice(0, writer.end);
  if (mode === "mutated") {
    const edits = random.range(1, 6);
    const view = new DataView(bytes.buffer);
    for (let e = 0; e < edits && bytes.length > 0; e++) {
      const at = random.int(bytes.length);
      if (random.chance(0.5) || at + 4 > bytes.length) {
        bytes[at] = random.int(256);
      } else {
        view.setUint32(
          at & ~3,
          random.pick([
            0,
            8,
            15,
            16,
            12,
            bytes.length,
            bytes.length + 1,
            random.u32(),
          ]) >>> 0,
          true,
        );
      }
    }
  }
  let length = bytes.length;
  if (mode === "truncated") {
    length = random.chance(0.3)
      ? Math.min(bytes.length, random.pick([0, 8, 12, 15, 16, 20, 24, 26, 28]))
      : random.int(bytes.length + 1);
  } else if (random.chance(0.1)) {
    // msg_controllen not a multiple of 8 (semantics.md §5: 20, 26).
    length = Math.max(0, bytes.length - random.range(1, 7));
  }
  return { bytes, length, mode };
}

/** What the reference model expects of one case. */
export interface Expected {
  readonly fds: number[];
  readonly credentials: ParsedControl["credentials"];
  readonly malformed: boolean;
}

/**
 * The contract, written independently of platform/cmsg.ts from semantics.md
 * §4 ("Recommended algorithms", receive step 4) and CPython's checks: walk
 * while a whole header fits; a `cmsg_len` below the header size is malformed
 * and ends the walk; data runs to `min(cmsg_len, msg_controllen)` and a
 * `cmsg_len` past `msg_controllen` is malformed; SCM_RIGHTS yields every whole
 * int32 of it, a negative one being malformed; SCM_CREDENTIALS (Linux) needs
 * 12 bytes; the next header is `CMSG_ALIGN(cmsg_len)` further. It reads a
 * private copy of exactly `length` bytes and throws if an fd would fall
 * outside its message or the buffer.
 */
export function expected(
  bytes: Uint8Array,
  length: number,
  layout: PlatformLayout,
): Expected {
  const h = layout.cmsghdr;
  const c = layout.constants;
  const view = new DataView(bytes.slice(0, length).buffer);
  const fds: number[] = [];
  let credentials: Expected["credentials"] = null;
  let malformed = false;
  let at = 0;
  while (length - at >= h.size) {
    const claimed = h.lenSize === 8
      ? Number(view.getBigUint64(at, true))
      : view.getUint32(at, true);
    if (claimed < h.size) {
      malformed = true;
      break;
    }
    if (claimed > length - at) malformed = true;
    const end = at + Math.min(claimed, length - at);
    const level = view.getInt32(at + h.level, true);
    const type = view.getInt32(at + h.type, true);
    const data = at + h.dataOffset;
    if (level === c.SOL_SOCKET && type === c.SCM_RIGHTS) {
      for (let p = data; p + 4 <= end; p += 4) {
        if (p < at + h.dataOffset || p + 4 > at + claimed || p + 4 > length) {
          throw new Error(`model bug: fd at ${p} outside its message`);
        }
        const fd = view.getInt32(p, true);
        if (fd < 0) malformed = true;
        else fds.push(fd);
      }
    } else if (
      c.SCM_CREDENTIALS !== 0 && level === c.SOL_SOCKET &&
      type === c.SCM_CREDENTIALS && end - data >= 12
    ) {
      credentials = {
        pid: view.getInt32(data, true),
        uid: view.getUint32(data + 4, true),
        gid: view.getUint32(data + 8, true),
      };
    }
    at += alignUp(claimed, h.align);
  }
  return { fds, credentials, malformed };
}

/** Thrown by {@linkcode GuardedView} on any access outside the window. */
class Violation extends Error {}

/**
 * A DataView that allows reads inside `[from, to)` only, forbids every
 * write, and allows a bounded number of reads (so a parser that loops
 * forever fails instead of hanging).
 */
class GuardedView extends DataView<ArrayBuffer> {
  reads = 0;

  constructor(
    buffer: ArrayBuffer,
    readonly from: number,
    readonly to: number,
    readonly budget: number,
  ) {
    super(buffer);
  }

  #check(offset: number, size: number, what: string): void {
    if (++this.reads > this.budget) {
      throw new Violation(
        `more than ${this.budget} reads: it does not terminate`,
      );
    }
    if (!(offset >= this.from && offset + size <= this.to)) {
      throw new Violation(
        `${what}(${offset}) reads [${offset}, ${
          offset + size
        }) outside [${this.from}, ${this.to})`,
      );
    }
  }

  override getInt8(o: number): number {
    this.#check(o, 1, "getInt8");
    return super.getInt8(o);
  }
  override getUint8(o: number): number {
    this.#check(o, 1, "getUint8");
    return super.getUint8(o);
  }
  override getInt16(o: number, le?: boolean): number {
    this.#check(o, 2, "getInt16");
    return super.getInt16(o, le);
  }
  override getUint16(o: number, le?: boolean): number {
    this.#check(o, 2, "getUint16");
    return super.getUint16(o, le);
  }
  override getInt32(o: number, le?: boolean): number {
    this.#check(o, 4, "getInt32");
    return super.getInt32(o, le);
  }
  override getUint32(o: number, le?: boolean): number {
    this.#check(o, 4, "getUint32");
    return super.getUint32(o, le);
  }
  override getFloat32(o: number, le?: boolean): number {
    this.#check(o, 4, "getFloat32");
    return super.getFloat32(o, le);
  }
  override getFloat64(o: number, le?: boolean): number {
    this.#check(o, 8, "getFloat64");
    return super.getFloat64(o, le);
  }
  override getBigInt64(o: number, le?: boolean): bigint {
    this.#check(o, 8, "getBigInt64");
    return super.getBigInt64(o, le);
  }
  override getBigUint64(o: number, le?: boolean): bigint {
    this.#check(o, 8, "getBigUint64");
    return super.getBigUint64(o, le);
  }
  override setInt8(): void {
    throw new Violation("setInt8: the parser wrote to the buffer");
  }
  override setUint8(): void {
    throw new Violation("setUint8: the parser wrote to the buffer");
  }
  override setInt16(): void {
    throw new Violation("setInt16: the parser wrote to the buffer");
  }
  override setUint16(): void {
    throw new Violation("setUint16: the parser wrote to the buffer");
  }
  override setInt32(): void {
    throw new Violation("setInt32: the parser wrote to the buffer");
  }
  override setUint32(): void {
    throw new Violation("setUint32: the parser wrote to the buffer");
  }
  override setFloat32(): void {
    throw new Violation("setFloat32: the parser wrote to the buffer");
  }
  override setFloat64(): void {
    throw new Violation("setFloat64: the parser wrote to the buffer");
  }
  override setBigInt64(): void {
    throw new Violation("setBigInt64: the parser wrote to the buffer");
  }
  override setBigUint64(): void {
    throw new Violation("setBigUint64: the parser wrote to the buffer");
  }
}

/** Marker fds in the tempting message placed right after the window. */
const BAIT_FD = 0x5eed;

/**
 * `bytes` at offset `before` of a larger buffer: `sentinel` everywhere else,
 * except that the first bytes after `msg_controllen` hold a well-formed
 * SCM_RIGHTS message carrying {@linkcode BAIT_FD} (unless the case's own
 * bytes continue there).
 */
function embed(
  item: FuzzCase,
  layout: PlatformLayout,
  before: number,
  sentinel: number,
): ArrayBuffer {
  const h = layout.cmsghdr;
  const bait = h.dataOffset + 8;
  const size = before + Math.max(item.bytes.length, item.length + bait) + 32;
  const bytes = new Uint8Array(size).fill(sentinel);
  bytes.set(item.bytes, before);
  if (item.bytes.length === item.length) {
    const view = new DataView(bytes.buffer);
    const at = before + item.length;
    view.setUint32(at, bait, true);
    if (h.lenSize === 8) view.setUint32(at + 4, 0, true);
    view.setInt32(at + h.level, layout.constants.SOL_SOCKET, true);
    view.setInt32(at + h.type, layout.constants.SCM_RIGHTS, true);
    view.setInt32(at + h.dataOffset, BAIT_FD, true);
    view.setInt32(at + h.dataOffset + 4, BAIT_FD + 1, true);
  }
  return bytes.buffer;
}

function fresh(): ParsedControl {
  return { fds: [], credentials: null, malformed: false };
}

function same(actual: ParsedControl, wanted: Expected): boolean {
  const a = actual.credentials;
  const b = wanted.credentials;
  return actual.malformed === wanted.malformed &&
    actual.fds.length === wanted.fds.length &&
    actual.fds.every((fd, i) => fd === wanted.fds[i]) &&
    (a === b ||
      (a !== null && b !== null && a.pid === b.pid && a.uid === b.uid &&
        a.gid === b.gid));
}

function show(value: ParsedControl | Expected): string {
  const fds = value.fds.length > 12
    ? `[${value.fds.slice(0, 12).join(", ")}, ... (${value.fds.length})]`
    : `[${value.fds.join(", ")}]`;
  return `{fds: ${fds}, credentials: ${
    JSON.stringify(value.credentials)
  }, malformed: ${value.malformed}}`;
}

const messages = new Map<PlatformLayout, Message>();

/** The receive path's reusable message, without a libc (addresses unused). */
function messageFor(layout: PlatformLayout): Message {
  let message = messages.get(layout);
  if (message === undefined) {
    const lib = { platform: layout, address: (): number => 0 };
    message = new Message(lib as unknown as Libc);
    messages.set(layout, message);
  }
  return message;
}

/** What the cases exercised, so a run can show it was not vacuous. */
export interface Tally {
  /** Cases the model calls well-formed with at least one fd. */
  withFds: number;
  /** Cases the model calls malformed. */
  malformed: number;
  /** Cases with SCM_CREDENTIALS parsed. */
  credentials: number;
  /** Cases the receive path's fast path took. */
  fastPath: number;
  /** Total fds the model expected. */
  fds: number;
}

/** parseControl's signature, so that the harness can be tried on broken parsers. */
export type Parser = typeof parseControl;

/**
 * Runs `parse` (parseControl unless a test passes a deliberately broken one)
 * over one case in three embeddings, checks the fast path, and returns what
 * went wrong, or null.
 */
export function checkCase(
  item: FuzzCase,
  layout: PlatformLayout,
  parse: Parser = parseControl,
  tally?: Tally,
): string | null {
  const { length } = item;
  let wanted: Expected;
  try {
    wanted = expected(item.bytes, length, layout);
  } catch (error) {
    return String(error);
  }
  for (const fd of wanted.fds) {
    if (!Number.isInteger(fd) || fd < 0) return `model returned fd ${fd}`;
  }
  if (tally !== undefined) {
    if (wanted.malformed) tally.malformed++;
    else if (wanted.fds.length > 0) tally.withFds++;
    if (wanted.credentials !== null) tally.credentials++;
    tally.fds += wanted.fds.length;
  }

  // 1. Every access checked, bounded reads, no writes; window at an odd offset.
  const before = 1 + ((length * 7) % 61);
  const guardedBuffer = embed(item, layout, before, 0x5a);
  const guarded = new GuardedView(
    guardedBuffer,
    before,
    before + length,
    length + 64,
  );
  const copy = new Uint8Array(guardedBuffer).slice();
  let result: ParsedControl;
  try {
    const given = fresh();
    result = parse(guarded, before, length, layout, given);
    if (result !== given) {
      return "did not return the result object it was given";
    }
  } catch (error) {
    return error instanceof Violation
      ? error.message
      : `threw ${String(error)}`;
  }
  if (!new Uint8Array(guardedBuffer).every((b, i) => b === copy[i])) {
    return "modified the buffer";
  }
  if (!same(result, wanted)) {
    // The model reads a copy of the window only, so bait it lacks came from outside.
    const bait = (fds: readonly number[]): number =>
      fds.filter((fd) => fd === BAIT_FD || fd === BAIT_FD + 1).length;
    const outside = bait(result.fds) > bait(wanted.fds)
      ? " (fds from the message past msg_controllen)"
      : "";
    return `got ${show(result)}, the contract says ${show(wanted)}${outside}`;
  }

  // 2. A plain DataView, other sentinel (negative int32s), other offset.
  try {
    const other = 64 + (length % 13);
    const plain = new DataView(embed(item, layout, other, 0xc3));
    const again = parse(plain, other, length, layout, fresh());
    if (!same(again, wanted)) {
      return `with other surrounding bytes got ${show(again)}, expected ${
        show(wanted)
      }`;
    }
  } catch (error) {
    return `threw ${String(error)} (plain DataView)`;
  }

  // 3. Exactly the window: any read outside is a RangeError.
  try {
    const exact = new DataView(item.bytes.slice(0, length).buffer);
    const again = parse(exact, 0, length, layout, fresh());
    if (!same(again, wanted)) {
      return `on an exact copy got ${show(again)}, expected ${show(wanted)}`;
    }
  } catch (error) {
    return `threw ${String(error)} on an exact-size copy`;
  }

  // 4. The receive path's fast path for one SCM_RIGHTS message must agree.
  const message = messageFor(layout);
  const room = message.view.byteLength - message.controlOffset;
  if (length <= room) {
    const control = new Uint8Array(
      message.view.buffer,
      message.controlOffset,
      room,
    );
    control.fill(0x5a);
    control.set(item.bytes.subarray(0, length));
    const count = message.singleRights(length);
    if (count >= 0) {
      if (tally !== undefined) tally.fastPath++;
      const fds = Array.from({ length: count }, (_, i) => message.rightsAt(i));
      if (
        wanted.malformed || wanted.credentials !== null ||
        !same({ fds, credentials: null, malformed: false }, wanted)
      ) {
        return `fast path (singleRights) gave [${
          fds.join(", ")
        }], parseControl ${show(wanted)}`;
      }
    }
  }
  return null;
}

/** A failed case: enough to reproduce it. */
export interface FuzzFailure {
  readonly seed: number;
  readonly index: number;
  readonly profile: string;
  readonly mode: string;
  readonly length: number;
  readonly message: string;
  /** The case's first bytes, hex. */
  readonly bytes: string;
}

/** Totals of one run. */
export interface FuzzReport {
  readonly seed: number;
  readonly cases: number;
  readonly perProfile: Readonly<Record<string, number>>;
  readonly perMode: Readonly<Record<string, number>>;
  readonly tally: Readonly<Tally>;
  readonly failures: FuzzFailure[];
  readonly milliseconds: number;
}

/** What to run. */
export interface FuzzOptions {
  /** How many cases, spread round-robin over `profiles`. */
  readonly cases: number;
  readonly seed: number;
  readonly profiles: readonly PlatformLayout[];
  /** The parser under test: parseControl unless a test says otherwise. */
  readonly parse?: Parser;
  /** Stop after this many failures (default 20). */
  readonly maxFailures?: number;
}

/** Runs the cases and collects failures. */
export function runFuzz(options: FuzzOptions): FuzzReport {
  const { cases, seed, profiles } = options;
  const maxFailures = options.maxFailures ?? 20;
  const started = performance.now();
  const perProfile: Record<string, number> = {};
  const perMode: Record<string, number> = {};
  const failures: FuzzFailure[] = [];
  const tally: Tally = {
    withFds: 0,
    malformed: 0,
    credentials: 0,
    fastPath: 0,
    fds: 0,
  };
  let index = 0;
  for (; index < cases && failures.length < maxFailures; index++) {
    const layout = profiles[index % profiles.length]!;
    const item = generateCase(caseSeed(seed, index), layout);
    perProfile[layout.name] = (perProfile[layout.name] ?? 0) + 1;
    perMode[item.mode] = (perMode[item.mode] ?? 0) + 1;
    const message = checkCase(item, layout, options.parse, tally);
    if (message !== null) {
      failures.push({
        seed,
        index,
        profile: layout.name,
        mode: item.mode,
        length: item.length,
        message,
        bytes: Array.from(
          item.bytes.subarray(0, 96),
          (b) => b.toString(16).padStart(2, "0"),
        ).join(" "),
      });
    }
  }
  return {
    seed,
    cases: index,
    perProfile,
    perMode,
    tally,
    failures,
    milliseconds: performance.now() - started,
  };
}

/** One line per failure, with what reproduces it. */
export function describeFailures(report: FuzzReport): string {
  return report.failures.map((f) =>
    `seed ${f.seed} case ${f.index} (${f.profile}, ${f.mode}, msg_controllen ${f.length}): ${f.message}\n  bytes: ${f.bytes}`
  ).join("\n");
}
